//! Graph validation of any flow spec, and the plan of a valid one (`wflow_fuzz::graph`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wflow_fuzz::graph::check(data));
