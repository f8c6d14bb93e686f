//! Manifest decoding: any bytes give a manifest or `StoreError::BadManifest`
//! (`wflow_fuzz::manifest`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wflow_fuzz::manifest::Target;

static TARGET: OnceLock<Target> = OnceLock::new();

fuzz_target!(|data: &[u8]| TARGET.get_or_init(Target::new).check(data));
