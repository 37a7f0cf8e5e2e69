//! The embedded mesh as tests start it: free ports, a data directory of the
//! test's own, the tansu broker `just test` installs.

use std::{path::Path, time::Duration};

/// Options for a mesh under `dir` whose cloud boots and acts in `delay`.
pub fn options(dir: &Path, web_root: &Path, delay: Duration) -> clustergenie::Options {
    clustergenie::Options {
        data_dir: dir.to_path_buf(),
        host: "127.0.0.1".parse().unwrap(),
        base_port: 0,
        grace: Duration::from_secs(5),
        cloud: provisioning::cloud::CloudConfig {
            boot_delay: delay,
            action_duration: delay,
            ..provisioning::cloud::CloudConfig::default()
        },
        broker: Some(
            std::env::var_os("TANSU")
                .expect("TANSU is not set: run tests through `just test`")
                .into(),
        ),
        gateway_port: 0,
        web_root: web_root.to_path_buf(),
    }
}
