//! How every AWS client of wflow is configured: HTTPS through hyper + rustls (ring), the
//! credentials and region of the default chain (environment, profile, container or instance
//! role), an optional named profile, region and endpoint override. The store (S3), the Batch
//! backend and `wflow deploy` (Step Functions, Scheduler, EventBridge) all load it here, so a
//! setting means the same thing for each.
//!
//! ```no_run
//! # async fn f() {
//! let settings = wflow_aws::Settings { region: Some("eu-west-1".into()), ..Default::default() };
//! let sdk = wflow_aws::load(&settings).await;
//! assert_eq!(wflow_aws::region_of(&sdk), "eu-west-1");
//! // let client = aws_sdk_s3::Client::from_conf(wflow_aws::builder!(aws_sdk_s3, &sdk, &settings).build());
//! # }
//! ```
#![deny(missing_docs)]

#[cfg(feature = "secrets")]
pub mod secrets;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls;

/// The region used when neither the settings, the profile nor the environment name one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where a client goes and as whom; `None` leaves a setting to the default chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// AWS profile for credentials and region.
    pub profile: Option<String>,
    /// The region (default: the profile's, or `AWS_REGION`, else [`DEFAULT_REGION`]).
    pub region: Option<String>,
    /// The endpoint URL (tests, private endpoints); the service's AWS endpoint when absent.
    pub endpoint: Option<String>,
}

/// The shared configuration for `settings`: HTTPS client, credentials chain, profile and the
/// region (always set: [`DEFAULT_REGION`] when nothing names one). The endpoint override is
/// set on each service's builder by [`builder!`], where it wins over the environment's
/// service-specific `AWS_ENDPOINT_URL_<SERVICE>`. Checks nothing remote.
pub async fn load(settings: &Settings) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let sdk = loader.load().await;
    let region = region_of(&sdk);
    sdk.into_builder().region(Region::new(region)).build()
}

/// A service's config builder from the shared config and the settings' endpoint override:
/// `wflow_aws::builder!(aws_sdk_batch, &sdk, &settings)`.
#[macro_export]
macro_rules! builder {
    ($krate:ident, $sdk:expr, $settings:expr) => {{
        let mut b = $krate::config::Builder::from($sdk);
        if let Some(e) = &($settings).endpoint {
            b = b.endpoint_url(e);
        }
        b
    }};
}

/// The region `sdk` names, or [`DEFAULT_REGION`].
pub fn region_of(sdk: &SdkConfig) -> String {
    sdk.region()
        .map_or_else(|| DEFAULT_REGION.to_string(), |r| r.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settings_reach_the_shared_config() {
        let sdk = load(&Settings {
            profile: None,
            region: Some("eu-west-3".into()),
            endpoint: None,
        })
        .await;
        assert_eq!(region_of(&sdk), "eu-west-3");
        assert!(sdk.http_client().is_some());
    }
}
