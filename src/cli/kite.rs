//! `alpha-panda kite session --request-token T`: Kite's daily login. Exchanges the request
//! token from the login redirect for an access token (`POST /session/token` with
//! `checksum = sha256(api_key + request_token + api_secret)`) and prints the `export` line
//! for the engine's environment. The API key and secret come from the environment, never
//! from arguments (shell history) or files.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use sha2::{Digest, Sha256};

#[derive(Args, Debug)]
pub(crate) struct KiteArgs {
    #[command(subcommand)]
    command: KiteCommand,
}

#[derive(Subcommand, Debug)]
enum KiteCommand {
    /// Exchange a login request token for an access token; prints `export NAME=...`.
    Session(SessionArgs),
}

#[derive(Args, Debug)]
struct SessionArgs {
    /// The `request_token` of the login redirect
    /// (https://kite.zerodha.com/connect/login?v=3&api_key=...).
    #[arg(long, value_name = "TOKEN")]
    request_token: String,
    /// Kite Connect's root (an emulator's in tests).
    #[arg(long, value_name = "URL", default_value = "https://api.kite.trade")]
    root_url: String,
    /// Variable holding the API key.
    #[arg(long, value_name = "NAME", default_value = "KITE_API_KEY")]
    api_key_env: String,
    /// Variable holding the API secret.
    #[arg(long, value_name = "NAME", default_value = "KITE_API_SECRET")]
    api_secret_env: String,
    /// Variable the printed export line sets.
    #[arg(long, value_name = "NAME", default_value = "KITE_ACCESS_TOKEN")]
    access_token_env: String,
}

pub(crate) fn kite(args: KiteArgs) -> Result<()> {
    match args.command {
        KiteCommand::Session(args) => session(&args),
    }
}

fn env(name: &str) -> Result<String> {
    if !crate::config::fields::is_env_name(name) {
        bail!("{name:?} is not an environment variable name ([A-Z_][A-Z0-9_]*)");
    }
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => bail!("the environment variable {name} is not set or empty"),
    }
}

/// `sha256(api_key + request_token + api_secret)`, hex.
pub(crate) fn checksum(api_key: &str, request_token: &str, api_secret: &str) -> String {
    let digest = Sha256::digest(format!("{api_key}{request_token}{api_secret}"));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn session(args: &SessionArgs) -> Result<()> {
    let api_key = env(&args.api_key_env)?;
    let api_secret = env(&args.api_secret_env)?;
    if !crate::config::fields::is_env_name(&args.access_token_env) {
        bail!(
            "{:?} is not an environment variable name",
            args.access_token_env
        );
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(15)))
        .build()
        .into();
    let url = format!("{}/session/token", args.root_url.trim_end_matches('/'));
    let sum = checksum(&api_key, &args.request_token, &api_secret);
    let mut response = agent
        .post(&url)
        .header("X-Kite-Version", "3")
        .send_form([
            ("api_key", api_key.as_str()),
            ("request_token", args.request_token.as_str()),
            ("checksum", sum.as_str()),
        ])
        .with_context(|| format!("POST {url}"))?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    match v["data"]["access_token"].as_str() {
        Some(token) if status == 200 && !token.is_empty() => {
            println!("export {}={token}", args.access_token_env);
            eprintln!(
                "logged in as {}; the token expires around 06:00 IST tomorrow",
                v["data"]["user_id"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        _ => {
            let (kind, message) = crate::execution::kite::wire::error_of(&body);
            bail!("Kite refused the login (HTTP {status}, {kind}): {message}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_sha256_of_key_token_secret() {
        // sha256("abc") as a fixed point of the formula.
        assert_eq!(
            checksum("a", "b", "c"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
