//! The experiment logic behind lsmc's commands: sweeps (planning, the
//! training processes, or a Slurm job array), run directories read back, reports (statistics,
//! selection, tables and plots), and predictions with trained runs. The
//! command line only parses flags, calls in here, and prints.

pub mod chain_draw;
pub mod eval;
pub mod heatmap;
pub mod plot;
pub mod predict;
pub mod report;
pub mod runs;
pub mod slurm;
pub mod sweep;
pub mod trained;
pub mod tree_draw;
