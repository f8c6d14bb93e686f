//! The policy file: any text parses to a policy that resolves flows faithfully, or gives a clear
//! error (`wflow_fuzz::policy`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wflow_fuzz::policy::check(data));
