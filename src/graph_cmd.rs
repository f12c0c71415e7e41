//! `lsmc graph SPEC [--dot]`: the computation graph a spec lowers to.

use crate::{Color, Overrides};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct GraphArgs {
    /// The spec file (`.lsm`).
    spec: PathBuf,
    #[command(flatten)]
    overrides: Overrides,
    /// Print Graphviz `dot` text instead of the readable listing.
    #[arg(long)]
    dot: bool,
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
}

pub fn run(args: &GraphArgs) -> ExitCode {
    match crate::spec::load(&args.spec, &args.overrides.set, args.color) {
        Ok(l) => {
            if args.dot {
                crate::out(&l.program.graph.to_dot());
            } else {
                crate::out(&format!("{}\n", l.program.graph));
            }
            ExitCode::SUCCESS
        }
        Err(code) => ExitCode::from(code),
    }
}
