//! `wflow`: run flows of sandboxed WebAssembly steps. Thin: parsing here, work in `commands/`.

use std::process::ExitCode;

use clap::Parser;

mod backends;
mod build;
mod cli;
mod commands;
mod componentize;
mod compute;
mod exit;
mod output;
mod quick;
mod settings;
mod source;

fn main() -> ExitCode {
    // The bounded compiler child (`commands::compiler`): not a command for people.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(commands::COMPILE_SUBCOMMAND) {
        return wflow_engine::compile_main(&args[1..]);
    }
    let cli = cli::Cli::parse();
    let printer = output::Printer::new(cli.global.json);
    match commands::dispatch(cli, &printer) {
        Ok(code) => code,
        Err(err) => {
            printer.error(&err);
            exit::code_for(&err)
        }
    }
}
