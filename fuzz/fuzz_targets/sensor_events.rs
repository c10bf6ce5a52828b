#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aerie_fuzz::sensor_events(data));
