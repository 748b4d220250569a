//! Glue from the generated export traits to the plugin author's role traits: the one
//! plugin value built by `init` lives here, and every role call borrows it.

use std::any::Any;
use std::cell::RefCell;

use crate::bindings::types::{
    Deny, Principal, RequestEdit, RequestHead, Response, ResponseEdit, ResponseHead,
};
use crate::bindings::{authenticator, authorizer, handler, plugin, ticker, transformer};
use crate::{Authenticate, Authorize, Handle, Plugin, Request, ResponseView, Tick, Transform};

thread_local! {
    static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Runs `f` on the plugin built by `init`. The host always calls `init` first, so a
/// missing or mistyped instance is a host bug worth a trap.
fn with_plugin<T: Plugin, R>(f: impl FnOnce(&T) -> R) -> R {
    INSTANCE.with(|cell| {
        let slot = cell.borrow();
        let plugin = slot
            .as_ref()
            .and_then(|p| p.downcast_ref::<T>())
            .expect("the host calls init before any role");
        f(plugin)
    })
}

impl<T: Plugin> plugin::exports::archway::plugin::lifecycle::Guest for T {
    fn init(config: String) -> Result<(), String> {
        // A panic becomes a trap the gateway reports; printing it would go through WASI
        // stdio, which the gateway does not provide.
        std::panic::set_hook(Box::new(|_| {}));
        let plugin = T::from_json(&config)?;
        INSTANCE.with(|cell| *cell.borrow_mut() = Some(Box::new(plugin)));
        Ok(())
    }
}

impl<T: Authenticate> authenticator::exports::archway::plugin::authenticate::Guest for T {
    fn authenticate(request: &RequestHead) -> Result<Option<Principal>, Deny> {
        with_plugin(|p: &T| p.authenticate(&Request::from_host(request)))
    }
}

impl<T: Authorize> authorizer::exports::archway::plugin::authorize::Guest for T {
    fn authorize(request: &RequestHead) -> Result<(), Deny> {
        with_plugin(|p: &T| p.authorize(&Request::from_host(request)))
    }
}

impl<T: Transform> transformer::exports::archway::plugin::transform::Guest for T {
    fn on_request(request: &RequestHead) -> Result<RequestEdit, Deny> {
        with_plugin(|p: &T| p.on_request(&Request::from_host(request)))
    }

    fn on_response(request: &RequestHead, response: &ResponseHead) -> Result<ResponseEdit, Deny> {
        with_plugin(|p: &T| {
            p.on_response(
                &Request::from_host(request),
                &ResponseView::from_host(response),
            )
        })
    }
}

impl<T: Handle> handler::exports::archway::plugin::handle::Guest for T {
    fn handle(request: &RequestHead) -> Result<Response, Deny> {
        with_plugin(|p: &T| p.handle(&Request::from_host(request)))
    }
}

impl<T: Tick> ticker::exports::archway::plugin::tick::Guest for T {
    fn tick(now_ms: u64) -> Result<(), String> {
        with_plugin(|p: &T| p.tick(now_ms))
    }
}
