//! `registry`: the registry's command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use registry_cli::client::Client;
use registry_cli::dead_letters::DeadLetterQueue;
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
    Import(ImportArgs),
    /// The indexer's dead letters in a deployed stack (AWS credentials and
    /// region from the environment, as the AWS CLI takes them).
    DeadLetters {
        /// The stack's `IndexerDeadLetterQueueUrl` output.
        #[arg(long, env = "REGISTRY_DEAD_LETTER_QUEUE_URL")]
        queue_url: String,
        #[command(subcommand)]
        action: DeadLetterAction,
    },
}

#[derive(clap::Args)]
struct ImportArgs {
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
    /// Enrols a file under its own name even when the same photo is
    /// enrolled under another name (the registry flags them as possible
    /// duplicates); by default such a file is reported and left out.
    #[arg(long)]
    enrol_same_photo: bool,
}

#[derive(Subcommand)]
enum DeadLetterAction {
    /// Lists them as JSON (they stay in the queue).
    List,
    /// Invokes the indexer again with each one's S3 event; handled, it
    /// leaves the queue.
    Replay {
        /// Message ids from the listing.
        #[arg(required_unless_present = "all")]
        ids: Vec<String>,
        /// Every dead letter.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Json,
    Csv,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let api = || {
        cli.url
            .clone()
            .context("give the registry's --url (or REGISTRY_URL)")
    };
    match &cli.command {
        Command::SignIn => {
            println!("{}", sign_in(&api()?).await?.access);
            Ok(())
        }
        Command::Import(args) => {
            let url = api()?;
            let client = match &cli.token {
                Some(token) => Client::new(url, token.clone())?,
                None => {
                    let tokens = sign_in(&url).await?;
                    Client::new(url, tokens.access)?.with_id_token(tokens.id)
                }
            };
            import_folder(client, args).await
        }
        Command::DeadLetters { queue_url, action } => {
            let aws = registry_adapters::aws::config_loader().load().await;
            let queue = DeadLetterQueue::new(&aws, queue_url);
            let answer = match action {
                DeadLetterAction::List => serde_json::to_value(queue.list().await?)?,
                DeadLetterAction::Replay { ids, all } => {
                    let outcomes = queue.replay((!*all).then_some(ids.as_slice())).await?;
                    let failed = outcomes.iter().any(|o| !o.replayed);
                    println!("{}", serde_json::to_string_pretty(&outcomes)?);
                    if failed {
                        std::process::exit(1);
                    }
                    return Ok(());
                }
            };
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(())
        }
    }
}

async fn import_folder(client: Client, args: &ImportArgs) -> anyhow::Result<()> {
    let format = match (
        args.format,
        args.report.as_ref().and_then(|p| p.extension()),
    ) {
        (Some(format), _) => format,
        (None, Some(ext)) if ext.eq_ignore_ascii_case("csv") => Format::Csv,
        _ => Format::Json,
    };
    let entries = import::scan(&args.dir)
        .with_context(|| format!("cannot read the folder {}", args.dir.display()))?;
    let options = Options {
        concurrency: usize::from(args.concurrency),
        wait: Duration::from_secs(args.wait),
        enrol_same_photo: args.enrol_same_photo,
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
    if let Some(path) = &args.report {
        let text = match format {
            Format::Json => serde_json::to_string_pretty(&import::to_json(&reports))?,
            Format::Csv => import::to_csv(&reports)?,
        };
        std::fs::write(path, text)
            .with_context(|| format!("cannot write the report {}", path.display()))?;
    }
    if counts["failed"] > 0 || counts["interrupted"] > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// The pages' sign-in, in the user's browser.
async fn sign_in(api: &Url) -> anyhow::Result<registry_cli::sign_in::Tokens> {
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
        eprintln!("stopping: the files under way finish (Ctrl-C again to quit now)");
        stop.cancel();
    }
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}
