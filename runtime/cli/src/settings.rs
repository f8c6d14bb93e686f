//! Settings resolved from flags and `WFLOW_*` variables, apart from the raw arguments.

use std::path::PathBuf;

use crate::cli::GlobalArgs;

/// Resolved settings every command uses.
pub struct Settings {
    /// This machine's directory for the store: the store itself when it is local; with an S3
    /// store, a working directory for live logs and files waiting for upload.
    pub store: PathBuf,
    /// Where compiled components are cached.
    pub cache_dir: PathBuf,
    /// The store and records resolved (opened by [`crate::backends::open`]).
    pub location: wflow_config::StoreSettings,
    /// The policy file given, if any.
    pub policy_file: Option<PathBuf>,
}

impl Settings {
    pub fn resolve(global: &GlobalArgs) -> Settings {
        let location = wflow_config::StoreSettings::resolve(&crate::backends::args(global));
        Settings {
            store: location.store.clone(),
            cache_dir: location.cache_dir.clone(),
            location,
            policy_file: global.policy.clone(),
        }
    }

    /// The policy flows are checked against: the organisation's (`/etc/wflow/policy.toml`, else
    /// `$WFLOW_POLICY`) as a ceiling, narrowed by the user's own (`--policy FILE`, and
    /// `$WFLOW_POLICY` when `/etc/wflow/policy.toml` exists). With no organisation policy, the
    /// user's `--policy` alone; with none at all, the built-in personal policy.
    pub fn policy(&self) -> anyhow::Result<wflow_policy::Policy> {
        let (org, user) = self.policy_files();
        let mut layers = org
            .into_iter()
            .chain(user)
            .map(|f| wflow_policy::Policy::load(&f));
        Ok(match layers.next() {
            Some(first) => layers.try_fold(first?, |p, next| {
                Ok::<_, wflow_policy::PolicyError>(p.narrowed_by(next?))
            })?,
            None => wflow_policy::Policy::builtin(&std::env::current_dir()?),
        })
    }

    /// The organisation's policy file, if any, and the user's, in the order they narrow it.
    fn policy_files(&self) -> (Option<PathBuf>, Vec<PathBuf>) {
        let system = PathBuf::from(SYSTEM_POLICY);
        let env = std::env::var_os("WFLOW_POLICY")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let (org, mut user) = if system.exists() {
            (Some(system), env.into_iter().collect::<Vec<_>>())
        } else {
            (env, Vec::new())
        };
        user.extend(self.policy_file.clone());
        (org, user)
    }

    /// What a flow runs against besides its spec: the project directory (the current one), and
    /// the paths no step may reach whatever the policy — the store (artifacts, records, live
    /// logs, scratch files), the cache (compiled code, builds, an S3 store's local files), the
    /// compiled-code cache's key, the configuration file, the policy files and a Cargo target
    /// directory.
    pub fn target(&self) -> anyhow::Result<wflow_policy::Target> {
        let mut t = wflow_policy::Target::new(&std::env::current_dir()?)
            .protect(&self.store, "the store (artifacts, records and logs)")
            .protect(&self.cache_dir, "wflow's cache (compiled code and builds)");
        if let Some(config) = crate::backends::config_file() {
            t = t.protect(&config, "wflow's configuration file");
        }
        if let Some(key) = wflow_engine::default_cache_key() {
            t = t.protect(&key, "the key that authenticates compiled code");
        }
        let (org, user) = self.policy_files();
        for f in org.iter().chain(&user) {
            t = t.protect(f, "a policy file");
        }
        if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
            t = t.protect(std::path::Path::new(&dir), "the Cargo build directory");
        }
        Ok(t)
    }

    /// Where the store is, for messages: its URL, or its directory.
    pub fn store_label(&self) -> String {
        self.location.label()
    }
}

/// The organisation's policy file on every machine.
const SYSTEM_POLICY: &str = "/etc/wflow/policy.toml";

/// The user name recorded with runs: `$WFLOW_USER`, `$USER` or `$LOGNAME`, else the name of the
/// account the process runs as (from `/etc/passwd`; `uid-N` if it has none there), so runs
/// started from cron, containers or `env -i` are not all recorded as one `unknown` user.
pub fn user() -> String {
    ["WFLOW_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .or_else(account_name)
        .unwrap_or_else(|| "unknown".to_string())
}

/// The account name of this process's user: the owner of `/proc/self` (the effective uid) looked
/// up in `/etc/passwd`.
fn account_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    Some(passwd_name(&passwd, uid).unwrap_or_else(|| format!("uid-{uid}")))
}

/// The name of `uid` in the text of a passwd file.
fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse::<u32>().ok() == Some(uid) && !name.is_empty()).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_name_comes_from_the_passwd_line_of_the_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      # a comment\n\
                      ada:x:1000:1000:Ada,,,:/home/ada:/bin/sh\n\
                      broken\n";
        assert_eq!(passwd_name(passwd, 1000).as_deref(), Some("ada"));
        assert_eq!(passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, 4242), None);
    }
}
