//! [`S3Config`]: where the store is and how to talk to it, as a serde struct (the `[store]` table
//! of `wflow.toml` with `type = "s3"`, or flags and `WFLOW_S3_*` variables resolved by the CLI).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Size of each part of a multipart upload and of each ranged GET, by default.
pub const DEFAULT_PART_SIZE_MIB: u64 = 16;
/// Transfers (requests) in flight at once per store, by default.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;
/// Attempts per request (the first plus retries) on throttling, 5xx and network errors.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// How to reach an S3 store. Credentials are never part of it: they come from the standard AWS
/// chain (environment, `~/.aws` profile, SSO, web identity, container or instance role).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct S3Config {
    /// `s3://bucket/prefix` (the prefix may be empty).
    pub url: String,
    /// Endpoint URL of an S3-compatible server (e.g. `http://127.0.0.1:9000`); AWS when absent.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region; else the profile's or `AWS_REGION`'s, else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible servers need.
    #[serde(default)]
    pub path_style: bool,
    /// The AWS profile to take credentials and region from (else `AWS_PROFILE`, else `default`).
    #[serde(default)]
    pub profile: Option<String>,
    /// Requests in flight at once (parts of big transfers included).
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// Part size of multipart uploads and ranged GETs, in MiB (5 to 5120).
    #[serde(default = "default_part_size")]
    pub part_size_mib: u64,
    /// Attempts per request, retries with exponential backoff included.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Integrity checksums on upload: `when_supported` (CRC32 on every PUT and part, checked by
    /// the server) or `when_required` (for servers that reject them).
    #[serde(default)]
    pub checksums: Checksums,
    /// Local directory for files being written before upload; a temporary directory when absent.
    #[serde(default)]
    pub scratch_dir: Option<PathBuf>,
}

/// When the client sends integrity checksums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Checksums {
    /// A CRC32 with every upload (single PUT and each part), verified by the server.
    #[default]
    WhenSupported,
    /// Only where an operation demands one (some S3-compatible servers reject the others).
    WhenRequired,
}

fn default_concurrency() -> usize {
    DEFAULT_MAX_CONCURRENCY
}
fn default_part_size() -> u64 {
    DEFAULT_PART_SIZE_MIB
}
fn default_attempts() -> u32 {
    DEFAULT_MAX_ATTEMPTS
}

impl S3Config {
    /// A configuration for `url` with every other setting at its default.
    pub fn new(url: impl Into<String>) -> S3Config {
        S3Config {
            url: url.into(),
            endpoint: None,
            region: None,
            path_style: false,
            profile: None,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            part_size_mib: DEFAULT_PART_SIZE_MIB,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            checksums: Checksums::default(),
            scratch_dir: None,
        }
    }
}

/// A parsed `s3://bucket/prefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket.
    pub bucket: String,
    /// The key prefix, empty or ending with `/`.
    pub prefix: String,
}

impl S3Url {
    /// Parses `s3://bucket[/prefix[/]]`.
    pub fn parse(url: &str) -> Result<S3Url, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("`{url}` is not an S3 URL: expected s3://BUCKET/PREFIX"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if !bucket_ok {
            return Err(format!(
                "`{url}`: `{bucket}` is not a bucket name (3 to 63 letters, digits, `-`, `.`)"
            ));
        }
        let prefix = prefix.trim_end_matches('/');
        if !prefix.is_empty() {
            wflow_store::validate_key(prefix).map_err(|e| format!("`{url}`: prefix: {e}"))?;
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = S3Url::parse("s3://team-data/wflow/prod/").unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.prefix.as_str()),
            ("team-data", "wflow/prod/")
        );
        assert_eq!(u.to_string(), "s3://team-data/wflow/prod/");
        let u = S3Url::parse("s3://team-data").unwrap();
        assert_eq!(u.prefix, "");
        for bad in [
            "team-data",
            "s3://",
            "s3://a",
            "s3://b/x//y",
            "s3://b/../x",
            "s3://B a/x",
        ] {
            assert!(S3Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_from_toml_like_json() {
        let c: S3Config = serde_json::from_value(serde_json::json!({
            "url": "s3://b/p", "endpoint": "http://127.0.0.1:9000", "path_style": true,
            "checksums": "when_required"
        }))
        .unwrap();
        assert_eq!(c.max_concurrency, DEFAULT_MAX_CONCURRENCY);
        assert_eq!(c.checksums, Checksums::WhenRequired);
        assert!(
            serde_json::from_value::<S3Config>(serde_json::json!({"url": "s3://b", "x": 1}))
                .is_err()
        );
    }
}
