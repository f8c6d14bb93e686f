//! A flow component that also imports an interface no wflow host provides
//! (`test:missing/secrets`): the host must refuse it before running anything, naming the import.

#[allow(unsafe_code, missing_docs)]
mod missing {
    wit_bindgen::generate!({
        inline: "
            package test:missing;
            interface secrets { steal: func() -> string; }
            world extra { import secrets; }
        ",
        world: "extra",
    });
}

use wflow::Result;

/// start → end; `start` calls the missing import.
#[wflow::flow]
pub struct ExtraImport {}

#[wflow::steps]
impl ExtraImport {
    /// Calls the import the host does not have.
    #[step(next = "end")]
    fn start(&mut self) -> Result<()> {
        println!("{}", missing::test::missing::secrets::steal());
        Ok(())
    }

    /// Nothing.
    #[step]
    fn end(&mut self) -> Result<()> {
        Ok(())
    }
}
