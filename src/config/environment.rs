//! The environment a run is in: it picks defaults, the overlay of `engine.toml` applied, and
//! whether a problem blocks a start (production) or is a warning (development, test).

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Environment {
    #[default]
    Development,
    Test,
    Production,
}

impl Environment {
    pub const ALL: [Environment; 3] = [
        Environment::Development,
        Environment::Test,
        Environment::Production,
    ];

    pub fn parse(name: &str) -> Option<Environment> {
        Environment::ALL.into_iter().find(|e| e.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Production => "production",
        }
    }
}
