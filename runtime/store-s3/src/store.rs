//! [`S3Store`]: the [`BlobStore`] in an S3 bucket.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use tokio::sync::Semaphore;
use wflow_store::{BlobStore, ObjectInfo, Result, StoreError, validate_key, validate_prefix};

use crate::bridge::Bridge;
use crate::config::{Checksums, S3Config, S3Url};
use crate::error::{other, to_store_error};
use crate::reader::S3Reader;
use crate::transfer::{Inner, Source};
use crate::verify::Expected;

/// Worker threads of the store's runtime: they only drive sockets and timers.
const RUNTIME_THREADS: usize = 2;

/// A content-addressable store's bytes in an S3 bucket, under a prefix.
///
/// Cheap to share behind an `Arc`; safe to call from any thread, async ones included (see the
/// [crate docs](crate)).
pub struct S3Store {
    pub(crate) bridge: Arc<Bridge>,
    pub(crate) inner: Arc<Inner>,
    scratch: PathBuf,
    region: String,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.inner.bucket)
            .field("prefix", &self.inner.prefix)
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// Connects to the bucket `config.url` names and checks that it can be listed under the prefix
    /// (one LIST request), so a wrong endpoint, missing bucket or refused credentials fail here
    /// with a clear error rather than half-way through a run.
    pub fn open(config: &S3Config) -> Result<S3Store> {
        let store = S3Store::connect(config)?;
        store.check()?;
        Ok(store)
    }

    /// Like [`open`](Self::open), without the check: no request is made.
    pub fn connect(config: &S3Config) -> Result<S3Store> {
        S3Store::connect_with(config, None)
    }

    /// `connect`, with fixed credentials instead of the chain (tests only: see [`crate::testing`]).
    pub(crate) fn connect_with(
        config: &S3Config,
        credentials: Option<aws_sdk_s3::config::Credentials>,
    ) -> Result<S3Store> {
        let url = S3Url::parse(&config.url)
            .map_err(|m| other(&config.url, io::ErrorKind::InvalidInput, m))?;
        if !(5..=5120).contains(&config.part_size_mib) {
            let why = "part_size_mib must be between 5 and 5120 (S3's limits)";
            return Err(other(&config.url, io::ErrorKind::InvalidInput, why));
        }
        let bridge =
            Arc::new(Bridge::new(RUNTIME_THREADS).map_err(|e| StoreError::io(&config.url, e))?);
        let settings = wflow_aws::Settings {
            profile: config.profile.clone(),
            region: config.region.clone(),
            endpoint: config.endpoint.clone(),
        };
        let sdk = bridge.block_on(wflow_aws::load(&settings));
        let region = wflow_aws::region_of(&sdk);
        let retry = RetryConfig::standard()
            .with_max_attempts(config.max_attempts.max(1))
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(10));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .build();
        let mut builder = wflow_aws::builder!(aws_sdk_s3, &sdk, &settings)
            .force_path_style(config.path_style)
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(credentials) = credentials {
            builder = builder.credentials_provider(credentials);
        }
        let plain = builder
            .clone()
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        let safe = config.checksums == Checksums::WhenRequired;
        if safe {
            builder = builder
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        let endpoint = config
            .endpoint
            .clone()
            .or_else(|| sdk.endpoint_url().map(str::to_string))
            .unwrap_or_else(|| format!("AWS S3 in {region}"));
        let scratch = config
            .scratch_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("wflow-s3-scratch"));
        std::fs::create_dir_all(&scratch).map_err(|e| StoreError::NotWritable {
            path: scratch.clone(),
            source: e,
        })?;
        let max_concurrency = config.max_concurrency.max(1);
        Ok(S3Store {
            inner: Arc::new(Inner {
                client: aws_sdk_s3::Client::from_conf(builder.build()),
                plain: aws_sdk_s3::Client::from_conf(plain),
                bucket: url.bucket,
                prefix: url.prefix,
                endpoint,
                part_size: config.part_size_mib << 20,
                max_concurrency,
                permits: Semaphore::new(max_concurrency),
                safe: AtomicBool::new(safe),
                conditional: AtomicBool::new(true),
            }),
            bridge,
            scratch,
            region,
        })
    }

    /// Lists at most one key under the prefix: the endpoint answers, the bucket exists and the
    /// credentials may list it.
    pub fn check(&self) -> Result<()> {
        let inner = &self.inner;
        self.bridge.block_on(async {
            let result = inner
                .client
                .list_objects_v2()
                .bucket(&inner.bucket)
                .prefix(&inner.prefix)
                .max_keys(1)
                .send()
                .await;
            result
                .map(|_| ())
                .map_err(|e| to_store_error(e, &inner.target(&inner.prefix, "s3:ListBucket")))
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.inner.bucket
    }

    /// The key prefix every object of this store has (empty, or ending with `/`).
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The endpoint, as messages name it.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// `s3://bucket/prefix/key` of a store key.
    pub fn url_of(&self, key: &str) -> String {
        self.inner.url(&self.inner.full(key))
    }
}

impl BlobStore for S3Store {
    /// Deduplicates against an object that checks out, replaces one that does not, and counts
    /// an upload as stored once it is verified (see `crate::verify`).
    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        validate_key(key)?;
        let inner = &self.inner;
        let full = inner.full(key);
        let want = Expected::of_slice(bytes, inner.part_size_for(bytes.len() as u64));
        self.bridge
            .block_on(inner.put_verified(&full, Source::Slice(bytes), &want))
    }

    fn put_file_if_absent(&self, key: &str, file: &Path) -> Result<bool> {
        validate_key(key)?;
        let inner = &self.inner;
        let full = inner.full(key);
        let len = std::fs::metadata(file)
            .map_err(|e| StoreError::io(file.display(), e))?
            .len();
        let want = Expected::of_file(file, inner.part_size_for(len))
            .map_err(|e| StoreError::io(file.display(), e))?;
        let wrote = self
            .bridge
            .block_on(inner.put_verified(&full, Source::File(file), &want))?;
        match std::fs::remove_file(file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::io(file.display(), e)),
            _ => Ok(wrote),
        }
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.get_with(key, &mut |_| {})
    }

    /// Fetches the first part; if the object is larger, the other parts are fetched in parallel
    /// (pinned to the first part's ETag) and appended, and passed to `sink`, in order.
    fn get_with(&self, key: &str, sink: &mut (dyn FnMut(&[u8]) + Send)) -> Result<Option<Vec<u8>>> {
        use futures_util::StreamExt;
        validate_key(key)?;
        let inner = &self.inner;
        let full = inner.full(key);
        self.bridge.block_on(async {
            let Some(first) = inner.get_range(&full, 0, inner.part_size - 1, None).await? else {
                return Ok(None);
            };
            let total = usize::try_from(first.total).map_err(|_| {
                other(
                    &inner.url(&full),
                    io::ErrorKind::OutOfMemory,
                    "too large for this machine",
                )
            })?;
            let mut bytes = Vec::with_capacity(total);
            sink(&first.bytes);
            bytes.extend_from_slice(&first.bytes);
            let handle = tokio::runtime::Handle::current();
            let ranges = (first.bytes.len() as u64..first.total).step_by(inner.part_size as usize);
            let mut rest = futures_util::stream::iter(ranges)
                .map(|start| {
                    let end = (start + inner.part_size).min(first.total) - 1;
                    let (inner2, full2, etag) = (inner.clone(), full.clone(), first.etag.clone());
                    handle.spawn(async move {
                        inner2.get_range(&full2, start, end, etag.as_deref()).await
                    })
                })
                .buffered(inner.max_concurrency);
            while let Some(part) = rest.next().await {
                let part = part
                    .map_err(|e| {
                        other(
                            &inner.url(&full),
                            io::ErrorKind::Other,
                            format!("download task failed: {e}"),
                        )
                    })??
                    .ok_or_else(|| {
                        other(
                            &inner.url(&full),
                            io::ErrorKind::NotFound,
                            "the object disappeared while it was being read",
                        )
                    })?;
                sink(&part.bytes);
                bytes.extend_from_slice(&part.bytes);
            }
            Ok(Some(bytes))
        })
    }

    fn open(&self, key: &str) -> Result<Option<Box<dyn Read + Send>>> {
        validate_key(key)?;
        let full = self.inner.full(key);
        let first =
            self.bridge.block_on(
                self.inner
                    .get_range(&full, 0, self.inner.part_size - 1, None),
            )?;
        Ok(first.map(|first| {
            Box::new(S3Reader::new(
                self.bridge.clone(),
                self.inner.clone(),
                full,
                first,
            )) as Box<dyn Read + Send>
        }))
    }

    fn exists(&self, key: &str) -> Result<bool> {
        validate_key(key)?;
        let full = self.inner.full(key);
        Ok(self.bridge.block_on(self.inner.head(&full))?.is_some())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        validate_prefix(prefix)?;
        let inner = &self.inner;
        let full = inner.full(prefix);
        let mut keys: Vec<String> = self
            .bridge
            .block_on(inner.list(&full))?
            .into_iter()
            .filter_map(|k| k.strip_prefix(&inner.prefix).map(str::to_string))
            .filter(|k| validate_key(k).is_ok())
            .collect();
        keys.sort_unstable();
        Ok(keys)
    }

    /// `LastModified` from `ListObjectsV2`.
    fn list_info(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        validate_prefix(prefix)?;
        let inner = &self.inner;
        let full = inner.full(prefix);
        let mut out: Vec<ObjectInfo> = self
            .bridge
            .block_on(inner.list_info(&full))?
            .into_iter()
            .filter_map(|mut o| {
                o.key = o.key.strip_prefix(&inner.prefix)?.to_string();
                validate_key(&o.key).is_ok().then_some(o)
            })
            .collect();
        out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Batched `DeleteObjects` (needs `s3:DeleteObject`: only `wflow gc` asks for it).
    fn delete(&self, keys: &[String]) -> Result<()> {
        for k in keys {
            validate_key(k)?;
        }
        let full: Vec<String> = keys.iter().map(|k| self.inner.full(k)).collect();
        self.bridge.block_on(self.inner.delete_keys(&full))
    }

    /// A `HEAD`, and a copy of the object onto itself when it was last written more than
    /// [`REFRESH_AFTER`](crate::REFRESH_AFTER) ago.
    fn refresh(&self, key: &str) -> Result<bool> {
        validate_key(key)?;
        let full = self.inner.full(key);
        self.bridge.block_on(self.inner.refresh(&full))
    }

    /// Lists the range of keys of each batch of 1,000 again just before its `DeleteObjects`,
    /// sparing what was written or refreshed since `before_ms`.
    fn delete_stale(&self, keys: &[String], before_ms: i64) -> Result<Vec<String>> {
        for k in keys {
            validate_key(k)?;
        }
        let full: Vec<String> = keys.iter().map(|k| self.inner.full(k)).collect();
        let deleted = self
            .bridge
            .block_on(self.inner.delete_stale_keys(&full, before_ms))?;
        Ok(deleted
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.inner.prefix).map(str::to_string))
            .collect())
    }

    fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    fn summary(&self) -> String {
        format!(
            "S3 bucket `{}`, prefix `{}` at {} (region {})",
            self.inner.bucket,
            if self.inner.prefix.is_empty() {
                "/"
            } else {
                &self.inner.prefix
            },
            self.inner.endpoint,
            self.region
        )
    }
}
