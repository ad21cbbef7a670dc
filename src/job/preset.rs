//! Placement presets: where on the garment a design goes.

use std::fmt;

use crate::error::{Error, Result};

/// A named placement of the design on the garment.
///
/// The physical definition of each preset (area, anchor, alignment) lives with the
/// template pack's pattern; this type is only the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Preset {
    /// Front panel, a 12 x 12 in area 3 in below the collar point, top-aligned.
    ChestLarge,
    /// Front panel, a 10 x 10 in area centred on the torso's middle.
    DeadCenterMedium,
    /// Back panel, a 4 x 4 in area 2 in below the back collar, top-aligned.
    BackSmall,
}

impl Preset {
    /// Every preset, in documentation order.
    pub const ALL: [Preset; 3] = [
        Preset::ChestLarge,
        Preset::DeadCenterMedium,
        Preset::BackSmall,
    ];

    /// The preset's kebab-case name (`"chest-large"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::ChestLarge => "chest-large",
            Preset::DeadCenterMedium => "dead-center-medium",
            Preset::BackSmall => "back-small",
        }
    }

    /// Parses a preset name, reporting a validation error on `field` that lists the
    /// valid names when it is unknown.
    pub fn parse_field(name: &str, field: &str) -> Result<Self> {
        Preset::ALL
            .into_iter()
            .find(|preset| preset.as_str() == name)
            .ok_or_else(|| Error::validation(field, unknown_preset_message(name)))
    }
}

pub(crate) fn unknown_preset_message(name: &str) -> String {
    let valid: Vec<_> = Preset::ALL.iter().map(|p| p.as_str()).collect();
    format!(
        "unknown preset `{name}`; valid presets are {}",
        valid.join(", ")
    )
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Preset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Preset::parse_field(s, "preset")
    }
}

impl serde::Serialize for Preset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Preset {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_print_kebab_case() {
        for preset in Preset::ALL {
            assert_eq!(preset.to_string().parse::<Preset>().unwrap(), preset);
            assert_eq!(
                serde_json::to_string(&preset).unwrap(),
                format!("\"{}\"", preset.as_str())
            );
        }
        assert_eq!("chest-large".parse::<Preset>().unwrap(), Preset::ChestLarge);
    }

    #[test]
    fn unknown_preset_lists_the_valid_ones() {
        let err = "chest_large".parse::<Preset>().unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION");
        let text = err.to_string();
        for preset in Preset::ALL {
            assert!(text.contains(preset.as_str()), "{text}");
        }
        assert!(serde_json::from_str::<Preset>("\"huge\"").is_err());
    }
}
