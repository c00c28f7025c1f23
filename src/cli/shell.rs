//! `scanbench completions SHELL` and `scanbench man`: generated from the same
//! clap definitions as the parser, so they never drift from the flags.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use clap_complete::Shell;

use super::term;

/// `scanbench completions`.
#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    shell: Shell,
}

/// Writes the completion script for `a.shell` on standard output.
pub fn completions(a: CompletionsArgs, cmd: &mut clap::Command) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(a.shell, cmd, "scanbench", &mut out);
    term::stdout().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the manual page (roff, section 1) on standard output:
/// `scanbench man > scanbench.1; man ./scanbench.1`.
pub fn man(cmd: &clap::Command) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    term::stdout().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}
