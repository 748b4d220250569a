//! The one place the SDK calls `wit_bindgen::generate!`: the shared imports once, then
//! one module per role world that reuses them through `with`.
//!
//! `pub_export_macro` puts each world's export section inside its export macro, so a
//! plugin's component exports exactly the roles its `export!` names.

/// The imports and shared types every role uses.
pub mod capabilities {
    wit_bindgen::generate!({ path: "../wit", world: "capabilities" });
}

macro_rules! role_world {
    ($module:ident, $world:literal) => {
        #[doc = concat!("Bindings of the `", $world, "` world.")]
        pub mod $module {
            wit_bindgen::generate!({
                path: "../wit",
                world: $world,
                with: {
                    "archway:plugin/types@0.1.0": crate::bindings::capabilities::archway::plugin::types,
                    "archway:plugin/log@0.1.0": crate::bindings::capabilities::archway::plugin::log,
                    "archway:plugin/kv@0.1.0": crate::bindings::capabilities::archway::plugin::kv,
                    "archway:plugin/streams@0.1.0": crate::bindings::capabilities::archway::plugin::streams,
                    "archway:plugin/upstream@0.1.0": crate::bindings::capabilities::archway::plugin::upstream,
                    "archway:plugin/jwt@0.1.0": crate::bindings::capabilities::archway::plugin::jwt,
                    "archway:plugin/metrics@0.1.0": crate::bindings::capabilities::archway::plugin::metrics,
                    "archway:plugin/admin@0.1.0": crate::bindings::capabilities::archway::plugin::admin,
                },
                pub_export_macro: true,
            });
        }
    };
}

role_world!(plugin, "plugin");
role_world!(authenticator, "authenticator");
role_world!(authorizer, "authorizer");
role_world!(transformer, "transformer");
role_world!(handler, "handler");
role_world!(ticker, "ticker");

pub use capabilities::archway::plugin::{jwt, kv, log, metrics, streams, types, upstream};
