//! `registry`: the registry's command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use registry_cli::client::Client;
use registry_cli::import::{self, Options, Outcome};
use tokio_util::sync::CancellationToken;
use url::Url;

#[derive(Parser)]
#[command(name = "registry", version, about = "The face registry's command line")]
struct Cli {
    /// The registry's API: its gateway URL (`make dev` prints it) or the
    /// deployed stack's `ApiUrl` output.
    #[arg(long, env = "REGISTRY_URL", global = true)]
    url: Option<Url>,
    /// An admin's access token (the `Authorization: Bearer` of the pages);
    /// without one, the command signs in through a browser.
    #[arg(long, env = "REGISTRY_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Signs in through a browser (the pages' sign-in) and prints the
    /// access token, for `export REGISTRY_TOKEN=$(registry sign-in)`.
    SignIn,
    /// Enrols every lastname_firstname.jpg|png of DIR, and the best photo
    /// of every folder "Lastname Firstname/". Run again, it skips what is
    /// already in (same bytes). Ctrl-C stops starting new files; a second
    /// Ctrl-C quits at once.
    Import {
        dir: PathBuf,
        /// Files uploaded at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        /// Seconds to wait for each photo to be indexed.
        #[arg(long, default_value_t = 120)]
        wait: u64,
        /// Writes the report of every file there.
        #[arg(long)]
        report: Option<PathBuf>,
        /// The report's format (by default, from the report's extension).
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Json,
    Csv,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let Some(url) = cli.url else {
        bail!("give the registry's --url (or REGISTRY_URL)");
    };
    match cli.command {
        Command::SignIn => {
            println!("{}", sign_in(&url).await?);
            Ok(())
        }
        Command::Import {
            dir,
            concurrency,
            wait,
            report,
            format,
        } => {
            let token = match cli.token {
                Some(token) => token,
                None => sign_in(&url).await?,
            };
            let format = match (format, report.as_ref().and_then(|p| p.extension())) {
                (Some(format), _) => format,
                (None, Some(ext)) if ext.eq_ignore_ascii_case("csv") => Format::Csv,
                _ => Format::Json,
            };
            let client = Client::new(url, token)?;
            let entries = import::scan(&dir)
                .with_context(|| format!("cannot read the folder {}", dir.display()))?;
            let options = Options {
                concurrency: usize::from(concurrency),
                wait: Duration::from_secs(wait),
                ..Options::default()
            };
            let stop = CancellationToken::new();
            tokio::spawn(stop_on_ctrl_c(stop.clone()));
            let progress = ProgressBar::new(entries.len() as u64).with_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed_precise} eta {eta}")
                    .expect("a valid template"),
            );
            let reports = import::import(&client, entries, &options, &stop, |report| {
                progress.inc(1);
                if report.outcome != Outcome::Indexed {
                    let reason = report.reason.as_deref().unwrap_or("");
                    progress.println(format!("{:?} {}: {reason}", report.outcome, report.path));
                }
            })
            .await;
            progress.finish_and_clear();

            let counts = import::counts(&reports);
            eprintln!(
                "indexed {} ({} already in, {} possible duplicates), rejected {}, failed {}, interrupted {}",
                counts["indexed"],
                counts["alreadyIn"],
                counts["possibleDuplicates"],
                counts["rejected"],
                counts["failed"],
                counts["interrupted"],
            );
            for rejected in reports.iter().filter(|r| r.outcome == Outcome::Rejected) {
                eprintln!(
                    "  rejected {}: {}",
                    rejected.path,
                    rejected.reason.as_deref().unwrap_or("")
                );
            }
            if let Some(path) = report {
                let text = match format {
                    Format::Json => serde_json::to_string_pretty(&import::to_json(&reports))?,
                    Format::Csv => import::to_csv(&reports)?,
                };
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write the report {}", path.display()))?;
            }
            if counts["failed"] > 0 || counts["interrupted"] > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

/// The pages' sign-in, in the user's browser.
async fn sign_in(api: &Url) -> anyhow::Result<String> {
    let token = registry_cli::sign_in::sign_in(api, |authorize| {
        eprintln!("Open this address in a browser and sign in:\n\n  {authorize}\n");
    })
    .await?;
    eprintln!("signed in");
    Ok(token)
}

/// The first Ctrl-C stops new files from starting; the second quits.
async fn stop_on_ctrl_c(stop: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("stopping: uploads under way finish (Ctrl-C again to quit now)");
        stop.cancel();
    }
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}
