//! Optimisers with PyTorch's exact update rules (torch.optim, 2.x):
//!
//! - Adam: `g ← g + λp` (L2), `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
//!   `p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)`;
//! - AdamW: the same without L2, after the decoupled decay `p ← p(1 − lr·λ)`;
//! - SGD: `g ← g + λp`, `b ← μb + g` (`b = g` at the first step), `p ← p − lr·b`.

use crate::real::Real;
use lsmc_ir::plan::Optimizer as Spec;
use ndarray::{ArrayD, Zip};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Adam,
    AdamW,
    Sgd,
}

#[derive(Clone, Debug)]
pub struct Optimizer<T> {
    pub kind: Kind,
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    /// Steps taken.
    pub t: u64,
    /// First moments (Adam) or momentum buffers (SGD).
    pub m: Vec<ArrayD<T>>,
    /// Second moments (Adam).
    pub v: Vec<ArrayD<T>>,
}

impl<T: Real> Optimizer<T> {
    pub fn new(spec: &Spec, params: &[ArrayD<T>]) -> Optimizer<T> {
        let zeros = || {
            params
                .iter()
                .map(|p| ArrayD::zeros(p.raw_dim()))
                .collect::<Vec<_>>()
        };
        let (kind, lr, betas, eps, weight_decay, momentum) = match *spec {
            Spec::Adam(a) => (Kind::Adam, a.lr, a.betas, a.eps, a.weight_decay, 0.0),
            Spec::AdamW(a) => (Kind::AdamW, a.lr, a.betas, a.eps, a.weight_decay, 0.0),
            Spec::Sgd {
                lr,
                momentum,
                weight_decay,
            } => (Kind::Sgd, lr, (0.9, 0.999), 0.0, weight_decay, momentum),
        };
        Optimizer {
            kind,
            lr,
            betas,
            eps,
            weight_decay,
            momentum,
            t: 0,
            m: zeros(),
            v: zeros(),
        }
    }

    /// One update at the optimiser's `lr` times `factor` (the schedule's).
    pub fn step(&mut self, params: &mut [ArrayD<T>], grads: &[ArrayD<T>], factor: f64) {
        self.t += 1;
        let t = self.t as i32;
        let lr = self.lr * factor;
        let wd = T::of(self.weight_decay);
        match self.kind {
            Kind::Adam | Kind::AdamW => {
                let (b1, b2) = self.betas;
                let bc1 = 1.0 - b1.powi(t);
                let bc2_sqrt = (1.0 - b2.powi(t)).sqrt();
                let step_size = T::of(lr / bc1);
                let (b1, b2, eps, bc2_sqrt) =
                    (T::of(b1), T::of(b2), T::of(self.eps), T::of(bc2_sqrt));
                let decoupled = self.kind == Kind::AdamW;
                let decay = T::of(1.0 - lr * self.weight_decay);
                for (((p, g), m), v) in params
                    .iter_mut()
                    .zip(grads)
                    .zip(&mut self.m)
                    .zip(&mut self.v)
                {
                    Zip::from(p).and(g).and(m).and(v).for_each(|p, &g, m, v| {
                        let g = if decoupled {
                            *p *= decay;
                            g
                        } else {
                            g + wd * *p
                        };
                        *m = b1 * *m + (T::one() - b1) * g;
                        *v = b2 * *v + (T::one() - b2) * g * g;
                        let denom = v.sqrt() / bc2_sqrt + eps;
                        *p -= step_size * *m / denom;
                    });
                }
            }
            Kind::Sgd => {
                let (mu, lr) = (T::of(self.momentum), T::of(lr));
                let first = self.t == 1;
                for ((p, g), b) in params.iter_mut().zip(grads).zip(&mut self.m) {
                    Zip::from(p).and(g).and(b).for_each(|p, &g, b| {
                        let g = g + wd * *p;
                        let d = if mu == T::zero() {
                            g
                        } else {
                            *b = if first { g } else { mu * *b + g };
                            *b
                        };
                        *p -= lr * d;
                    });
                }
            }
        }
    }
}

/// The gradient's global L2 norm over every parameter, computed in f64.
pub fn global_norm<T: Real>(grads: &[ArrayD<T>]) -> f64 {
    grads
        .iter()
        .flat_map(|g| g.iter())
        .map(|&x| x.f64() * x.f64())
        .sum::<f64>()
        .sqrt()
}

/// Rescales the gradient to a global norm of at most `max_norm`, as
/// PyTorch's `clip_grad_norm_` does: every gradient is multiplied by
/// `min(1, max_norm / (norm + 1e-6))`. Returns the norm before clipping.
pub fn clip_global_norm<T: Real>(grads: &mut [ArrayD<T>], max_norm: f64) -> f64 {
    let norm = global_norm(grads);
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let c = T::of(coef);
        grads.iter_mut().for_each(|g| g.mapv_inplace(|x| x * c));
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    use lsmc_ir::plan::Adam;

    fn adam(lr: f64, weight_decay: f64) -> Adam {
        Adam {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay,
        }
    }

    /// Three Adam steps on f(p) = Σ p² / 2 (so g = p), by hand:
    /// the first step of Adam moves every coordinate by lr·sign(g) (up to ε).
    #[test]
    fn adam_matches_a_hand_computation() {
        let mut p = vec![arr1(&[1.0f64, -2.0]).into_dyn()];
        let mut opt = Optimizer::new(&Spec::Adam(adam(0.1, 0.0)), &p);
        let g = p.clone();
        opt.step(&mut p, &g, 1.0);
        // m = 0.1 g, v = 0.001 g²; m̂ = g, v̂ = g²; step = 0.1 · g/(|g| + 1e-8).
        let want = [1.0 - 0.1 / (1.0 + 1e-8), -2.0 + 0.1 * 2.0 / (2.0 + 1e-8)];
        for (x, w) in p[0].iter().zip(want) {
            assert!((x - w).abs() < 1e-15, "{x} vs {w}");
        }
        // Second step, written out in full.
        let g2 = p.clone();
        let (m1, v1) = (0.1 * g[0][0], 0.001 * g[0][0] * g[0][0]);
        let m2 = 0.9 * m1 + 0.1 * g2[0][0];
        let v2 = 0.999 * v1 + 0.001 * g2[0][0] * g2[0][0];
        let expect = p[0][0]
            - (0.1 / (1.0 - 0.81)) * m2 / (v2.sqrt() / (1.0 - 0.999f64.powi(2)).sqrt() + 1e-8);
        opt.step(&mut p, &g2, 1.0);
        assert!((p[0][0] - expect).abs() < 1e-15);
    }

    #[test]
    fn adam_weight_decay_is_l2_and_adamw_is_decoupled() {
        // With a zero gradient, Adam's L2 term alone makes the step ≈ lr·sign(p);
        // AdamW only shrinks p by the factor (1 − lr·λ) and takes no Adam step.
        let zero = vec![arr1(&[0.0f64]).into_dyn()];
        let mut p = vec![arr1(&[3.0f64]).into_dyn()];
        Optimizer::new(&Spec::Adam(adam(0.01, 0.5)), &p).step(&mut p, &zero, 1.0);
        assert!((p[0][0] - (3.0 - 0.01 * 1.5 / (1.5 + 1e-8))).abs() < 1e-12);
        let mut q = vec![arr1(&[3.0f64]).into_dyn()];
        Optimizer::new(&Spec::AdamW(adam(0.01, 0.5)), &q).step(&mut q, &zero, 1.0);
        assert!((q[0][0] - 3.0 * (1.0 - 0.01 * 0.5)).abs() < 1e-15);
    }

    #[test]
    fn sgd_with_momentum_matches_pytorch() {
        let spec = Spec::Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
        };
        let mut p = vec![arr1(&[1.0f64]).into_dyn()];
        let mut opt = Optimizer::new(&spec, &p);
        let g = vec![arr1(&[1.0f64]).into_dyn()];
        opt.step(&mut p, &g, 1.0); // b = 1, p = 0.9
        opt.step(&mut p, &g, 1.0); // b = 1.9, p = 0.71
        assert!((p[0][0] - 0.71).abs() < 1e-15);
    }

    #[test]
    fn a_schedule_factor_scales_the_step_and_adamws_decay() {
        // SGD: the step is lr·factor·g.
        let spec = Spec::Sgd {
            lr: 0.1,
            momentum: 0.0,
            weight_decay: 0.0,
        };
        let mut p = vec![arr1(&[1.0f64]).into_dyn()];
        let g = vec![arr1(&[1.0f64]).into_dyn()];
        Optimizer::new(&spec, &p).step(&mut p, &g, 0.5);
        assert!((p[0][0] - 0.95).abs() < 1e-15);
        // AdamW at factor 0 takes no step and no decay (PyTorch's LambdaLR
        // sets the group's lr, which both use).
        let zero = vec![arr1(&[0.0f64]).into_dyn()];
        let mut q = vec![arr1(&[3.0f64]).into_dyn()];
        Optimizer::new(&Spec::AdamW(adam(0.01, 0.5)), &q).step(&mut q, &zero, 0.0);
        assert_eq!(q[0][0], 3.0);
    }

    #[test]
    fn clipping_rescales_to_the_max_norm_like_clip_grad_norm() {
        // Norm of (3, 4) and (12) is 13.
        let mut g = vec![arr1(&[3.0f64, 4.0]).into_dyn(), arr1(&[12.0f64]).into_dyn()];
        let norm = clip_global_norm(&mut g, 1.3);
        assert_eq!(norm, 13.0);
        let c = 1.3 / (13.0 + 1e-6);
        assert_eq!(g[0], arr1(&[3.0 * c, 4.0 * c]).into_dyn());
        assert_eq!(g[1], arr1(&[12.0 * c]).into_dyn());
        assert!((global_norm(&g) - 1.3).abs() < 1e-6);
        // Below the limit the gradient is untouched.
        let mut h = vec![arr1(&[0.3f64, 0.4]).into_dyn()];
        assert!((clip_global_norm(&mut h, 1.0) - 0.5).abs() < 1e-15);
        assert_eq!(h[0], arr1(&[0.3, 0.4]).into_dyn());
    }
}
