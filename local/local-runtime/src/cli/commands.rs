//! The commands other than `serve`: invoke one function, tokens, a
//! function's environment, users, secret rotation and dead letters.

use std::time::Duration;

use local_runtime::runtime::token_authority;
use local_runtime::sqs::{Queue, QueueSpec};
use local_runtime::{Group, StatePaths};
use serde_json::Value;

use super::{
    CliError, DeadLetterAction, InvokeArgs, StackArgs, UserAction, finish, options, start,
};

pub(crate) async fn invoke(
    state: StatePaths,
    stack: &StackArgs,
    args: InvokeArgs,
) -> Result<(), CliError> {
    let event = read_json(&args.event)?;
    let env_vars = args.env_vars.as_deref().map(read_json).transpose()?;
    let (options, scratch) = options(&state, stack, args.runtime).await?;
    let (runtime, scratch) = start(options.with_ephemeral_ports(), scratch).await?;
    let result = async {
        if let Some(file) = &env_vars {
            let ignored =
                local_runtime::runtime::apply_env_vars(&runtime, &args.function, file).await?;
            if !ignored.is_empty() {
                eprintln!(
                    "--env-vars: not variables of {} in the template, left out: {}",
                    args.function,
                    ignored.join(", ")
                );
            }
        }
        local_runtime::runtime::invoke_event(&runtime, &args.function, event).await
    }
    .await;
    finish(runtime, scratch).await;
    let answer = result?;
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).unwrap_or_default()
    );
    Ok(())
}

fn read_json(path: &std::path::Path) -> Result<Value, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Event {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| CliError::Event {
        path: path.to_owned(),
        reason: format!("not JSON: {e}"),
    })
}

pub(crate) fn users(
    state: &StatePaths,
    stack: &StackArgs,
    action: UserAction,
) -> Result<(), CliError> {
    let users = local_runtime::runtime::users(state, &stack.load()?)?;
    match action {
        UserAction::Add {
            email,
            group,
            permanent,
        } => {
            let password = users.policy().generate();
            let user = users.add(&email, &[group], &password, permanent)?;
            if permanent {
                println!("{} created; password: {password}", user.email);
            } else {
                println!(
                    "{} created; temporary password (to change at the first sign-in): {password}",
                    user.email
                );
            }
        }
        UserAction::List => {
            for user in users.list() {
                println!(
                    "{}\t{}\t{:?}",
                    user.email,
                    user.groups.join(","),
                    user.status
                );
            }
        }
    }
    Ok(())
}

pub(crate) fn token(state: &StatePaths, stack: &StackArgs, group: &str) -> Result<(), CliError> {
    let group: Group = group.parse()?;
    let tokens = token_authority(state, &stack.load()?)?;
    let issued = tokens.issue(group, local_runtime::tokens::TOKEN_LIFETIME)?;
    println!("{}", issued.token);
    Ok(())
}

pub(crate) fn env(
    state: &StatePaths,
    stack: &StackArgs,
    function: &str,
    show_secret: bool,
    database_url: Option<String>,
) -> Result<(), CliError> {
    let database_url = database_url.or_else(|| state.database_env("DATABASE_URL"));
    let variables = local_runtime::runtime::function_environment_for(
        state,
        &stack.template,
        stack.settings()?,
        function,
        database_url.as_deref(),
    )?;
    for (name, value) in variables {
        if name == "AWS_SECRET_ACCESS_KEY" && !show_secret {
            println!("# AWS_SECRET_ACCESS_KEY: add --show-secret to print it");
            continue;
        }
        // Quoted: values hold `$` ($LATEST) and JSON (the pool's keys).
        let quoted = shlex::try_quote(&value)
            .map_err(|e| CliError::Usage(format!("{name} cannot be written for a shell: {e}")))?;
        println!("export {name}={quoted}");
    }
    Ok(())
}

pub(crate) fn sam_env_vars(
    state: &StatePaths,
    stack: &StackArgs,
    database_url: Option<String>,
) -> Result<(), CliError> {
    let database_url = database_url.or_else(|| state.database_env("DATABASE_URL"));
    let environments = local_runtime::runtime::function_environments_for(
        state,
        &stack.template,
        stack.settings()?,
        database_url.as_deref(),
    )?;
    let file = local_runtime::runtime::sam_env_vars_file(&environments);
    println!(
        "{}",
        serde_json::to_string_pretty(&file).unwrap_or_default()
    );
    Ok(())
}

/// An admin's request to the running gateway's local endpoints.
async fn local_request(
    state: &StatePaths,
    stack: &StackArgs,
    gateway_url: &str,
    path: &[&str],
    body: Value,
) -> Result<(), CliError> {
    let mut url = url::Url::parse(gateway_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| CliError::Usage(format!("{gateway_url:?} is not a valid http URL")))?;
    url.path_segments_mut()
        .map_err(|()| CliError::Usage(format!("{gateway_url:?} is not a valid http URL")))?
        .extend(path);
    let tokens = token_authority(state, &stack.load()?)?;
    let token = tokens.issue(Group::Admins, Duration::from_secs(60))?.token;
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(CliError::Gateway)?;
    let status = response.status();
    let body = response.text().await.map_err(CliError::Gateway)?;
    if !status.is_success() {
        return Err(CliError::Refused {
            status: status.as_u16(),
            body,
        });
    }
    Ok(())
}

pub(crate) async fn rotate(
    state: &StatePaths,
    stack: &StackArgs,
    secret: &str,
    gateway_url: &str,
) -> Result<(), CliError> {
    local_request(
        state,
        stack,
        gateway_url,
        &["local", "secrets", "rotate"],
        serde_json::json!({"secret": secret}),
    )
    .await?;
    println!("rotated {secret}");
    Ok(())
}

pub(crate) async fn dead_letters(
    state: &StatePaths,
    stack: &StackArgs,
    action: DeadLetterAction,
) -> Result<(), CliError> {
    let loaded = stack.load()?;
    let (_, queue) = local_runtime::runtime::photo_dead_letter_queue(&loaded)
        .ok_or_else(|| CliError::Usage("no queue of the stack has a dead-letter queue".into()))?;
    // Read from its folder: the runtime need not run to list or delete.
    let spec = QueueSpec {
        name: queue.name.clone(),
        arn: queue.arn.clone(),
        url: queue.url.clone(),
        policy: None,
        key: None,
        visibility_timeout: queue.visibility_timeout,
        retention: queue.retention,
    };
    let letters = Queue::open(spec, None, &state.queue(&queue.name))?;
    match action {
        DeadLetterAction::List => {
            for letter in letters.messages() {
                println!("{}", local_runtime::sqs::dead_letters::summary(&letter));
            }
        }
        DeadLetterAction::Delete { id } => {
            if letters.take(&id).is_none() {
                return Err(CliError::Usage(format!("no dead letter {id}")));
            }
            println!("deleted {id}");
        }
        DeadLetterAction::Replay { id, gateway_url } => {
            local_request(
                state,
                stack,
                &gateway_url,
                &["local", "dead-letters", &id, "replay"],
                Value::Null,
            )
            .await?;
            println!("replayed {id}");
        }
    }
    Ok(())
}
