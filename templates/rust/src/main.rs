//! {{name}}: a TinyKVM program in Rust. tkvm (and the Varnish TinyKVM VMOD
//! in production) runs it in a KVM sandbox: main() sets up and parks in
//! wait_for_requests(); every request then runs on_get or on_post in a
//! fresh copy of that state, which is thrown away afterwards.
//!
//!   tkvm build && tkvm run GET /hello
//!   tkvm run POST /upload -d 'some data'

mod kvm_api;

use kvm_api::{backend_response, c_bytes, c_text};
use std::ffi::c_char;

/// The program's logic, kept apart from the sandbox so it runs natively too.
fn greet(url: &str, arg: &str) -> String {
    let query = if arg.is_empty() { String::new() } else { format!("?{arg}") };
    format!("Hello from {{name}}! You asked for {url}{query}\n")
}

/// GET: url is the path, arg the query string (or the X-Arg header).
extern "C" fn on_get(url: *const c_char, arg: *const c_char) {
    let (url, arg) = unsafe { (c_text(url), c_text(arg)) };
    backend_response(200, "text/plain", greet(&url, &arg).as_bytes());
}

/// POST: the whole body at once.
extern "C" fn on_post(url: *const c_char, _arg: *const c_char, content_type: *const c_char, data: *const u8, len: usize) {
    let (url, content_type, body) = unsafe { (c_text(url), c_text(content_type), c_bytes(data, len)) };
    let text = format!("Hello from {{name}}! Received {} bytes of {content_type} at {url}\n", body.len());
    backend_response(200, "text/plain", text.as_bytes());
}

fn main() {
    if kvm_api::is_linux_main() {
        // Started from a shell, not by tkvm: run the logic natively. ./build/{{name}} /some/path
        let url = std::env::args().nth(1).unwrap_or_else(|| "/".to_string());
        print!("{}", greet(&url, ""));
        return;
    }
    kvm_api::set_backend_get(on_get);
    kvm_api::set_backend_post(on_post);
    kvm_api::wait_for_requests();
}
