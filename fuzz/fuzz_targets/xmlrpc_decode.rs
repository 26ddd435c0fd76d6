//! XML-RPC decoding of untrusted bytes (the PBX's callbacks and answers): never panics, stays
//! bounded, and whatever it accepts encodes to a document it accepts again, unchanged after
//! one more round (the encoder replaces what XML 1.0 cannot carry, once).
#![no_main]

use ctibridge_starface::xmlrpc::{MethodCall, MethodResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(call) = MethodCall::from_xml(data) {
        let once = MethodCall::from_xml(call.to_xml()).expect("our own encoding decodes");
        let twice = MethodCall::from_xml(once.to_xml()).expect("our own encoding decodes");
        assert_eq!(once, twice, "encoding is not stable");
    }
    if let Ok(resp) = MethodResponse::from_xml(data) {
        let once = MethodResponse::from_xml(resp.to_xml()).expect("our own encoding decodes");
        let twice = MethodResponse::from_xml(once.to_xml()).expect("our own encoding decodes");
        assert_eq!(once, twice, "encoding is not stable");
    }
});
