//! The TinyKVM host calls this program uses, as in kvm_api.h (C/C++).
//!
//! Each host call is a three-instruction stub, `mov $NR, %eax; out %eax, $0;
//! ret`, called like a C function: arguments in rdi, rsi, rdx, rcx, r8, r9,
//! result in rax. The `out` makes the VM exit and the host answers. Numbers
//! and handler indices are those of the TinyKVM guest ABI.
//!
//! Handlers are `extern "C"` functions; the host keeps their addresses as
//! 32-bit values, which is why tkvm build links a static, non-PIE executable.

#![allow(dead_code)]

use std::borrow::Cow;
use std::ffi::{c_char, c_int, c_void, CStr};

core::arch::global_asm!(
    ".pushsection .text",
    ".global register_func",
    ".type register_func, @function",
    "register_func:",
    "    mov $0x10000, %eax",
    "    out %eax, $0",
    "    ret",
    ".global wait_for_requests",
    ".type wait_for_requests, @function",
    "wait_for_requests:",
    "    mov $0x10001, %eax",
    "    out %eax, $0",
    "    ret",
    ".global sys_backend_response",
    ".type sys_backend_response, @function",
    "sys_backend_response:",
    "    mov $0x10010, %eax",
    "    out %eax, $0",
    "    ret",
    ".global sys_log",
    ".type sys_log, @function",
    "sys_log:",
    "    mov $0x7F000, %eax",
    "    out %eax, $0",
    "    ret",
    ".popsection",
    options(att_syntax)
);

mod sys {
    use std::ffi::{c_int, c_void};
    extern "C" {
        pub fn register_func(index: c_int, handler: usize);
        pub fn wait_for_requests() -> !;
        pub fn sys_backend_response(
            status: i16,
            content_type: *const u8,
            content_type_len: usize,
            content: *const u8,
            content_len: usize,
            extra: *const c_void,
        ) -> !;
        pub fn sys_log(text: *const u8, len: usize);
    }
}

/// Handler slots for register_func (KVM_HANDLER_* in kvm_api.h).
pub const HANDLER_GET: c_int = 1;
pub const HANDLER_POST: c_int = 2;

/// `void on_get(const char *url, const char *arg)`
pub type GetHandler = extern "C" fn(url: *const c_char, arg: *const c_char);
/// `void on_post(url, arg, const char *content_type, const uint8_t *data, size_t len)`
pub type PostHandler =
    extern "C" fn(url: *const c_char, arg: *const c_char, content_type: *const c_char, data: *const u8, len: usize);

/// True when started from a shell rather than by tkvm or the VMOD (they set KVM_NAME).
pub fn is_linux_main() -> bool {
    std::env::var_os("KVM_NAME").is_none()
}

pub fn set_backend_get(handler: GetHandler) {
    unsafe { sys::register_func(HANDLER_GET, handler as usize) }
}

pub fn set_backend_post(handler: PostHandler) {
    unsafe { sys::register_func(HANDLER_POST, handler as usize) }
}

/// Parks the program: from here on, every request runs a handler in a fresh copy of this state.
pub fn wait_for_requests() -> ! {
    unsafe { sys::wait_for_requests() }
}

/// The response; it ends the request (the host copies what it needs first).
pub fn backend_response(status: u16, content_type: &str, body: &[u8]) -> ! {
    unsafe {
        sys::sys_backend_response(
            status as i16,
            content_type.as_ptr(),
            content_type.len(),
            body.as_ptr(),
            body.len(),
            std::ptr::null::<c_void>(),
        )
    }
}

/// A line in the host's log (tkvm run/serve show it).
pub fn log(text: &str) {
    unsafe { sys::sys_log(text.as_ptr(), text.len()) }
}

/// A string the host passed (NUL-terminated), as text.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives the result (the host's arguments live for the request).
pub unsafe fn c_text<'a>(p: *const c_char) -> Cow<'a, str> {
    if p.is_null() {
        Cow::Borrowed("")
    } else {
        CStr::from_ptr(p).to_string_lossy()
    }
}

/// The body the host passed.
///
/// # Safety
/// `data` points to `len` readable bytes (or is NULL with `len` 0) for the request's lifetime.
pub unsafe fn c_bytes<'a>(data: *const u8, len: usize) -> &'a [u8] {
    if data.is_null() || len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(data, len)
    }
}
