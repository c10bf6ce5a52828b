//! What an appliance is: a Central Manager, or the Manager of Central Managers.

crate::string_enum! {
    /// The role this appliance plays; `set mcm ip 127.0.0.1 …` makes a CM the MCM and
    /// `set mcm remove` makes it a CM again.
    pub enum ApplianceRole {
        Cm = "cm",
        Mcm = "mcm",
    }
}

impl ApplianceRole {
    /// What the role is called in messages.
    pub fn title(self) -> &'static str {
        match self {
            ApplianceRole::Cm => "Central Manager",
            ApplianceRole::Mcm => "Manager of Central Managers",
        }
    }
}
