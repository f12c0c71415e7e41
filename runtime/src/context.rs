//! What a computation runs with: the device of the structured ops, the
//! thread count and the workers the per-sentence tree work runs on. One is
//! made by whoever starts the work (the command line, once per process; a
//! test or a library caller, as many as it likes) and lent to everything
//! that needs it, so two contexts in one process never see each other's
//! device or threads.

use crate::device::{Choice, Selected};
use lsmc_kernels::cuda::{CudaError, Gpu};
use std::sync::{Arc, Mutex, OnceLock};

pub struct Context {
    threads: usize,
    gpu: Option<Arc<Gpu>>,
    selected: Selected,
    /// `auto`'s one line about falling back to the CPU, said when a tree
    /// op first asks for the GPU (a model without trees hears nothing).
    note: Mutex<Option<String>>,
    /// Built at the first parallel tree op, so a context that never runs
    /// one starts no thread; `None` inside when the pool could not be
    /// built (the work then runs on the caller's thread, same results).
    pool: OnceLock<Option<rayon::ThreadPool>>,
    /// The most words a tree latent's text may have ([`crate::text_limit`]).
    max_words: usize,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("threads", &self.threads)
            .field("selected", &self.selected)
            .finish_non_exhaustive()
    }
}

/// Every core this process may use.
pub fn all_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

impl Default for Context {
    /// The CPU with every core.
    fn default() -> Context {
        Context::cpu(all_cores())
    }
}

impl Context {
    /// The CPU with `threads` workers (0 is taken as 1).
    pub fn cpu(threads: usize) -> Context {
        Context::with(None, Selected::Cpu { fallback: None }, threads)
    }

    /// The device `choice` names, with `threads` workers. `cuda` without a
    /// usable GPU is an error; `auto` falls back to the CPU and says so
    /// once, when a tree op first runs.
    pub fn new(choice: Choice, threads: usize) -> Result<Context, CudaError> {
        let opened = |n: usize| -> Result<(Arc<Gpu>, Selected), CudaError> {
            let g = Gpu::open(n)?;
            let s = Selected::Cuda {
                ordinal: n,
                name: g.name().to_string(),
            };
            Ok((Arc::new(g), s))
        };
        let (gpu, selected) = match choice {
            Choice::Cpu => (None, Selected::Cpu { fallback: None }),
            Choice::Cuda(n) => {
                let (g, s) = opened(n)?;
                (Some(g), s)
            }
            Choice::Auto => match opened(0) {
                Ok((g, s)) => (Some(g), s),
                Err(e) => (
                    None,
                    Selected::Cpu {
                        fallback: Some(e.to_string()),
                    },
                ),
            },
        };
        Ok(Context::with(gpu, selected, threads))
    }

    fn with(gpu: Option<Arc<Gpu>>, selected: Selected, threads: usize) -> Context {
        Context {
            threads: threads.max(1),
            gpu,
            note: Mutex::new(selected.note()),
            selected,
            pool: OnceLock::new(),
            max_words: crate::text_limit::DEFAULT_MAX_WORDS,
        }
    }

    /// This context with tree latents' texts allowed up to `words` words
    /// (default [`crate::text_limit::DEFAULT_MAX_WORDS`]).
    pub fn with_max_words(mut self, words: usize) -> Context {
        self.max_words = words;
        self
    }

    /// This context's device and limits with `threads` workers instead
    /// (a fresh pool; the device note not yet said is kept).
    pub fn with_threads(&self, threads: usize) -> Context {
        let mut cx = Context::with(self.gpu.clone(), self.selected.clone(), threads);
        cx.note = Mutex::new(self.note.lock().map(|n| n.clone()).unwrap_or_default());
        cx.with_max_words(self.max_words)
    }

    /// The most words a tree latent's text may have.
    pub fn max_words(&self) -> usize {
        self.max_words
    }

    /// Threads for the tree workers and lsmc's own matrix kernels.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Where the structured ops run.
    pub fn selected(&self) -> &Selected {
        &self.selected
    }

    /// The GPU the structured ops use, if any. Called by the ops that
    /// could run there: the first call after `auto` fell back prints its
    /// note to standard error.
    pub fn gpu(&self) -> Option<&Gpu> {
        if self.gpu.is_none() {
            if let Some(note) = self.take_note() {
                eprintln!("{note}");
            }
        }
        self.gpu.as_deref()
    }

    /// The fallback note, if it is still to be said.
    fn take_note(&self) -> Option<String> {
        self.note.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The helpers beside the caller: `threads − 1` of them, since the
    /// caller works too ([`Context::map_in_order`]).
    fn pool(&self) -> Option<&rayon::ThreadPool> {
        // One thread needs no pool: the caller does the work, as fast
        // and without a hand-off.
        if self.threads == 1 {
            return None;
        }
        self.pool
            .get_or_init(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(self.threads - 1)
                    .thread_name(|i| format!("lsmc-tree-{i}"))
                    .build()
                    .ok()
            })
            .as_ref()
    }

    /// The threads the parallel tree work really runs on.
    pub fn workers(&self) -> usize {
        self.pool().map_or(1, |p| p.current_num_threads() + 1)
    }

    /// `f(0), …, f(n-1)` on the workers, in that order. Each call is
    /// independent, so the results are the same whatever the thread count.
    ///
    /// The caller is one of the workers: it starts on the first index at
    /// once while the helpers wake (a wake-up costs 15–40 µs on a virtual
    /// machine, a tenth of a batch's non-projective marginals at n = 40,
    /// and the caller used to wait idle through it), and every worker
    /// takes the next index until none is left.
    pub(crate) fn map_in_order<R: Send>(&self, n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::PoisonError;
        let pool = match self.pool() {
            Some(pool) if n > 1 => pool,
            _ => return (0..n).map(f).collect(),
        };
        let next = AtomicUsize::new(0);
        // Indices finished, or abandoned by a panic (which the scope then
        // passes on to the caller).
        let done = AtomicUsize::new(0);
        struct Finished<'a>(&'a AtomicUsize);
        impl Drop for Finished<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Release);
            }
        }
        let slots: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
        let work = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                break;
            }
            let _finished = Finished(&done);
            let r = f(i);
            *slots[i].lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
        };
        let helpers = pool.current_num_threads().min(n - 1);
        pool.in_place_scope(|scope| {
            for _ in 0..helpers {
                scope.spawn(|_| work());
            }
            work();
            // The caller, out of indices, waits a little for the helpers'
            // last ones awake (yielding its core to whoever needs it):
            // asleep, it was woken 20–30 µs after they finished. Only a
            // little, so that a long item (a SparseMAP solve) does not
            // keep a core busy; then the scope's own wait, which blocks,
            // or inside this pool (a nested call) takes other jobs.
            if pool.current_thread_index().is_none() {
                #[cfg(test)]
                SPINS.with(|c| c.set(c.get() + 1));
                let until = std::time::Instant::now() + CALLER_SPIN;
                while done.load(Ordering::Acquire) < n && std::time::Instant::now() < until {
                    std::thread::yield_now();
                }
            }
        });
        slots
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .unwrap_or_else(PoisonError::into_inner)
                    .expect("every index ran")
            })
            .collect()
    }

    /// [`Context::map_in_order`] with the indices handed out in
    /// decreasing `costs` (ties in index order): an expensive item taken
    /// last keeps one worker busy while the others wait. The results are
    /// still in index order and each call is the same, so neither the
    /// results nor their bits depend on the order.
    pub(crate) fn map_costliest_first<R: Send>(
        &self,
        costs: &[usize],
        f: impl Fn(usize) -> R + Sync,
    ) -> Vec<R> {
        let mut order: Vec<usize> = (0..costs.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(costs[i]));
        let done = self.map_in_order(order.len(), |j| f(order[j]));
        let mut slots: Vec<Option<R>> = (0..costs.len()).map(|_| None).collect();
        for (&i, r) in order.iter().zip(done) {
            slots[i] = Some(r);
        }
        slots
            .into_iter()
            .map(|r| r.expect("every index ran once"))
            .collect()
    }
}

/// How long the caller of [`Context::map_in_order`], out of indices,
/// waits awake for the helpers' last items before it sleeps: a few
/// matrix-tree groups' worth at n = 40.
const CALLER_SPIN: std::time::Duration = std::time::Duration::from_micros(200);

#[cfg(test)]
thread_local! {
    /// The awake waits this thread has begun as a caller.
    static SPINS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    /// Whether `k` tasks were all running at once: each arrives and waits
    /// (up to a deadline) for the others.
    fn all_at_once(cx: &Context, k: usize) -> bool {
        let arrived = AtomicUsize::new(0);
        let met = cx.map_in_order(k, |_| {
            arrived.fetch_add(1, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(10);
            while arrived.load(Ordering::SeqCst) < k && Instant::now() < deadline {
                std::thread::yield_now();
            }
            arrived.load(Ordering::SeqCst) >= k
        });
        met.into_iter().all(|m| m)
    }

    #[test]
    fn costliest_first_hands_out_the_dearest_items_first_and_answers_in_index_order() {
        let costs = [3, 9, 1, 9, 5];
        // One thread runs the items in the order they are handed out.
        let one = Context::cpu(1);
        let taken = Mutex::new(Vec::new());
        let out = one.map_costliest_first(&costs, |i| {
            taken.lock().unwrap().push(i);
            i * 10
        });
        assert_eq!(taken.into_inner().unwrap(), vec![1, 3, 4, 0, 2]);
        assert_eq!(out, vec![0, 10, 20, 30, 40]);
        let three = Context::cpu(3);
        assert_eq!(three.map_costliest_first(&costs, |i| i * 10), out);
        assert!(three.map_costliest_first(&[], |i| i).is_empty());
    }

    #[test]
    fn the_pool_has_the_contexts_thread_count() {
        let four = Context::cpu(4);
        assert_eq!(four.workers(), 4);
        assert!(all_at_once(&four, 4), "four tasks never ran together");
        assert_eq!(Context::cpu(1).workers(), 1);
        assert_eq!(Context::cpu(0).threads(), 1, "zero threads is one");
    }

    #[test]
    fn two_contexts_in_one_process_keep_their_own_thread_counts() {
        let (one, three) = (Context::cpu(1), Context::cpu(3));
        let caller = std::thread::current().id();
        let ran_on = one.map_in_order(3, |_| std::thread::current().id());
        assert!(ran_on.iter().all(|&t| t == caller));
        assert_eq!(three.workers(), 3);
        // Three tasks that wait for each other ran on three threads, the
        // caller one of them.
        let arrived = AtomicUsize::new(0);
        let ids = three.map_in_order(3, |_| {
            arrived.fetch_add(1, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(10);
            while arrived.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
                std::thread::yield_now();
            }
            std::thread::current().id()
        });
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 3, "{ids:?}");
        assert!(ids.contains(&caller));
        assert_eq!((one.threads(), three.threads()), (1, 3));
    }

    /// `f` run on a thread of its own, its result or panic back within
    /// a minute (a hang fails the test instead of stalling the suite).
    fn within_a_minute<R: Send + 'static>(
        f: impl FnOnce() -> R + Send + 'static,
    ) -> std::thread::Result<R> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("map_in_order hung")
    }

    /// Marks that an item runs on the caller or on a helper, then waits
    /// (up to ten seconds) until an item has run on the other too: so
    /// that both take items whatever the machine's load.
    fn both_roles_run(started: &[AtomicUsize; 2]) -> bool {
        let helper = rayon::current_thread_index().is_some();
        started[helper as usize].fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        while started[!helper as usize].load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        helper
    }

    #[test]
    fn a_panic_on_the_caller_or_on_a_helper_reaches_the_caller() {
        for on_helper in [false, true] {
            let outcome = within_a_minute(move || {
                let cx = Context::cpu(3);
                let started = [AtomicUsize::new(0), AtomicUsize::new(0)];
                cx.map_in_order(24, |i| {
                    if both_roles_run(&started) == on_helper {
                        panic!("item {i} failed");
                    }
                    i
                })
            });
            let payload = outcome.expect_err("the panic was passed on");
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default();
            assert!(text.contains("failed"), "helper {on_helper}: {text:?}");
        }
    }

    #[test]
    fn a_call_inside_an_item_completes_and_waits_asleep_on_a_helper() {
        let outcome = within_a_minute(|| {
            let cx = Context::cpu(2);
            let started = [AtomicUsize::new(0), AtomicUsize::new(0)];
            cx.map_in_order(6, |i| {
                let helper = both_roles_run(&started);
                let before = SPINS.with(|c| c.get());
                let sum: usize = cx.map_in_order(5, |j| i * 10 + j).iter().sum();
                (sum, helper, SPINS.with(|c| c.get()) - before)
            })
        });
        let results = outcome.expect("no panic");
        let sums: Vec<usize> = results.iter().map(|r| r.0).collect();
        assert_eq!(sums, (0..6).map(|i| 50 * i + 10).collect::<Vec<_>>());
        // A helper's nested call leaves the waiting to the scope (which
        // runs other jobs there); the caller's own waits awake.
        for &(_, helper, spins) in &results {
            assert_eq!(spins, usize::from(!helper), "helper {helper}: {results:?}");
        }
        assert!(results.iter().any(|r| r.1) && results.iter().any(|r| !r.1));
    }

    #[test]
    fn results_come_back_in_order() {
        let cx = Context::cpu(3);
        assert_eq!(
            cx.map_in_order(100, |i| i * i),
            (0..100).map(|i| i * i).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_fallback_note_is_said_once_per_context() {
        let fell_back = || {
            Context::with(
                None,
                Selected::Cpu {
                    fallback: Some("no driver".into()),
                },
                1,
            )
        };
        let (a, b) = (fell_back(), fell_back());
        assert!(a.gpu().is_none());
        assert_eq!(a.take_note(), None, "the first tree op said it");
        assert!(a.gpu().is_none());
        let note = b.take_note().expect("b's note is its own");
        assert!(note.starts_with("note: no GPU (no driver)"), "{note}");
        assert_eq!(Context::cpu(2).take_note(), None, "cpu has nothing to say");
    }
}
