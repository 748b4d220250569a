//! The roles a plugin can play, written once: the [`Role`] enum, where each role's
//! functions live in a component (looked up once per plugin), and the loaded functions
//! of one live instance.

use std::fmt;

use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};

use crate::bindings::{authenticate, authorize, handle, tick, transform};
use crate::host::HostState;

/// Declares every role once, with the `bindings` module of its exported interface.
macro_rules! roles {
    ($($role:ident: $module:ident),+ $(,)?) => {
        /// A role a plugin can play, read from its component's exports.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Role {
            $(
                #[doc = concat!("Exports `archway:plugin/", stringify!($module), "`.")]
                $role,
            )+
        }

        impl Role {
            /// The WIT interface that exports the role.
            pub fn interface(self) -> &'static str {
                match self {
                    $(Self::$role => stringify!($module),)+
                }
            }
        }

        /// Where each exported role's functions are in a component.
        pub(crate) struct RoleIndices {
            $($module: Option<$module::GuestIndices>,)+
        }

        /// The role functions of one live instance; `None` for roles not exported.
        pub(crate) struct RoleExports {
            $(pub(crate) $module: Option<$module::Guest>,)+
        }

        impl RoleIndices {
            /// Looks up every role the component exports.
            pub(crate) fn new(pre: &InstancePre<HostState>) -> Self {
                Self {
                    $($module: $module::GuestIndices::new(pre).ok(),)+
                }
            }

            /// The roles found, in WIT order.
            pub(crate) fn roles(&self) -> Vec<Role> {
                let mut roles = Vec::new();
                $(
                    if self.$module.is_some() {
                        roles.push(Role::$role);
                    }
                )+
                roles
            }

            /// Loads the role functions of a fresh instance.
            pub(crate) fn load(
                &self,
                store: &mut Store<HostState>,
                instance: &Instance,
            ) -> wasmtime::Result<RoleExports> {
                Ok(RoleExports {
                    $(
                        $module: self
                            .$module
                            .as_ref()
                            .map(|indices| indices.load(&mut *store, instance))
                            .transpose()?,
                    )+
                })
            }
        }
    };
}

roles! {
    Authenticate: authenticate,
    Authorize: authorize,
    Transform: transform,
    Handle: handle,
    Tick: tick,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.interface())
    }
}

/// The role's functions; routes are checked against the plugin's roles when built, so a
/// role that is called is always exported.
pub(crate) fn exported<G>(functions: &Option<G>) -> &G {
    functions
        .as_ref()
        .expect("routes only call roles the plugin exports")
}
