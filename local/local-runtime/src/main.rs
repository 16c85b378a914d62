//! `registry-local`: the stack of `template.yaml` on 127.0.0.1 in one process.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Command, commands, serve};
use local_runtime::StatePaths;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,s3s=warn,sqlx=warn,aws_config=warn")
            }),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let state = StatePaths::new(&cli.state_dir);
    let result = match cli.command {
        Command::Serve(args) => serve::serve(state, &cli.stack, *args).await,
        Command::Invoke(args) => commands::invoke(state, &cli.stack, args).await,
        Command::Token { group } => commands::token(&state, &cli.stack, &group),
        Command::Env {
            function,
            show_secret,
            database_url,
        } => commands::env(&state, &cli.stack, &function, show_secret, database_url),
        Command::SamEnvVars { database_url } => {
            commands::sam_env_vars(&state, &cli.stack, database_url)
        }
        Command::RotateSecret {
            secret,
            gateway_url,
        } => commands::rotate(&state, &cli.stack, &secret, &gateway_url).await,
        Command::Users { action } => commands::users(&state, &cli.stack, action),
        Command::DeadLetters { action } => commands::dead_letters(&state, &cli.stack, action).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("registry-local: {error}");
            ExitCode::FAILURE
        }
    }
}
