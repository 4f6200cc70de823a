//! Host-side bindings of the `sam:spoke@0.1.0` world, generated from `wit/spoke.wit` by
//! wasmtime's `bindgen!`. Imports and exports are async so that the HTTP import can await
//! reqwest without blocking a runtime thread. Other modules use [`crate::contract`] for the
//! types; only the host touches the generated world and traits.

wasmtime::component::bindgen!({
    path: "../wit/0.1.0",
    world: "spoke",
    imports: { default: async },
    exports: { default: async },
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
});
