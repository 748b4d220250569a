//! Links a compiled component against exactly the host imports its config grants: an
//! import of a capability it was not granted, or of something the host does not offer,
//! fails the load with the capability to add.

use archway_config::{Capability, PluginConfig};
use wasmtime::component::{Component, HasSelf, InstancePre};

use crate::bindings::{admin, jwt, kv, log, metrics, streams, upstream};
use crate::host::HostState;
use crate::{LoadError, Runtime};

/// Checks the component's imports against its grants and pre-links it.
pub(crate) fn link(
    runtime: &Runtime,
    component: &Component,
    settings: &PluginConfig,
) -> Result<InstancePre<HostState>, LoadError> {
    let plugin = &settings.name;
    check_imports(runtime, component, settings)?;
    let link_error = |e: wasmtime::Error| LoadError::Link {
        plugin: plugin.clone(),
        reason: format!("{e:#}"),
    };
    let mut linker = runtime.base_linker.clone();
    for capability in &settings.capabilities {
        match capability {
            Capability::Log => log::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s),
            Capability::Kv => kv::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s),
            Capability::Streams => {
                streams::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)
            }
            Capability::Upstream => {
                upstream::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)
            }
            Capability::Jwt => jwt::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s),
            Capability::Metrics => {
                metrics::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)
            }
            Capability::Admin => admin::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s),
        }
        .map_err(link_error)?;
    }
    linker.instantiate_pre(component).map_err(link_error)
}

/// The capability an `archway:plugin/<interface>@...` import needs; `None` for `types`.
fn required_capability(import: &str) -> Result<Option<Capability>, ()> {
    let interface = import
        .strip_prefix("archway:plugin/")
        .and_then(|rest| rest.split('@').next())
        .ok_or(())?;
    if interface == "types" {
        return Ok(None);
    }
    Capability::ALL
        .into_iter()
        .find(|c| c.interface() == interface)
        .map(Some)
        .ok_or(())
}

/// Refuses imports the config does not grant, with the capability to add.
fn check_imports(
    runtime: &Runtime,
    component: &Component,
    settings: &PluginConfig,
) -> Result<(), LoadError> {
    for (import, _) in component.component_type().imports(&runtime.engine) {
        if import.starts_with("wasi:") {
            continue;
        }
        match required_capability(import) {
            Ok(None) => {}
            Ok(Some(capability)) if settings.capabilities.contains(&capability) => {}
            Ok(Some(capability)) => {
                return Err(LoadError::UngrantedImport {
                    plugin: settings.name.clone(),
                    import: import.to_owned(),
                    capability: capability.interface().to_owned(),
                });
            }
            Err(()) => {
                return Err(LoadError::UnknownImport {
                    plugin: settings.name.clone(),
                    import: import.to_owned(),
                });
            }
        }
    }
    Ok(())
}
