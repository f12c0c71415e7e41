//! Learning-rate schedules: the factor the optimiser's `lr` is multiplied
//! by at each update.
//!
//! The formulas are Hugging Face's (`get_linear_schedule_with_warmup`,
//! `get_cosine_schedule_with_warmup`, with PyTorch's `LambdaLR` stepped
//! after every update) and PyTorch's `StepLR`, so a run ported from a
//! PyTorch script sees the same rates. With `t` updates already taken,
//! `w` warm-up steps and `T` steps in the run:
//!
//! - warm-up (`t < w`): `t / w`;
//! - constant: `1`;
//! - linear: `max(0, (T − t) / (T − w))`;
//! - cosine: `max(0, ½ (1 + cos(π (t − w) / (T − w))))`;
//! - step: `γ^⌊(t − w) / every⌋`.
//!
//! As in those libraries, the first update of a warm-up uses rate 0 (it
//! still moves Adam's moments).

use lsmc_ir::plan::{Decay, Schedule};

/// The factor of the update after `taken` updates, in a run of `total`.
pub fn factor(s: &Schedule, taken: u64, total: u64) -> f64 {
    let (t, w, total) = (taken as f64, s.warmup as f64, total as f64);
    if taken < s.warmup {
        return t / w.max(1.0);
    }
    let after = t - w;
    let span = (total - w).max(1.0);
    match s.decay {
        Decay::Constant => 1.0,
        Decay::Linear => ((total - t) / span).max(0.0),
        Decay::Cosine => (0.5 * (1.0 + (std::f64::consts::PI * after / span).cos())).max(0.0),
        Decay::Step { every, gamma } => gamma.powi((after / every.max(1) as f64).floor() as i32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(warmup: u64, decay: Decay) -> Schedule {
        Schedule { warmup, decay }
    }

    #[test]
    fn warm_up_ramps_linearly_from_zero_then_hands_over_to_the_decay() {
        let s = schedule(4, Decay::Constant);
        let f: Vec<f64> = (0..6).map(|t| factor(&s, t, 10)).collect();
        assert_eq!(f, [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]);
    }

    #[test]
    fn linear_decay_reaches_zero_at_the_last_step() {
        let s = schedule(2, Decay::Linear);
        // T − w = 8: after warm-up, (10 − t)/8.
        assert_eq!(factor(&s, 2, 10), 1.0);
        assert_eq!(factor(&s, 6, 10), 0.5);
        assert_eq!(factor(&s, 10, 10), 0.0);
        assert_eq!(factor(&s, 12, 10), 0.0);
    }

    #[test]
    fn cosine_is_one_half_midway_and_zero_at_the_end() {
        let s = schedule(0, Decay::Cosine);
        assert_eq!(factor(&s, 0, 100), 1.0);
        assert!((factor(&s, 50, 100) - 0.5).abs() < 1e-15);
        assert!(
            (factor(&s, 25, 100) - (0.5 + 0.5 * (std::f64::consts::FRAC_PI_4).cos())).abs() < 1e-15
        );
        assert!(factor(&s, 100, 100).abs() < 1e-15);
    }

    #[test]
    fn step_decay_multiplies_by_gamma_every_period_like_steplr() {
        let s = schedule(
            0,
            Decay::Step {
                every: 3,
                gamma: 0.5,
            },
        );
        let f: Vec<f64> = (0..7).map(|t| factor(&s, t, 100)).collect();
        assert_eq!(f, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]);
        // Counted from the end of the warm-up.
        let w = schedule(
            2,
            Decay::Step {
                every: 3,
                gamma: 0.5,
            },
        );
        assert_eq!(factor(&w, 4, 100), 1.0);
        assert_eq!(factor(&w, 5, 100), 0.5);
    }
}
