//! AWS regions as the operator names them (`eu-south-1`), validated once at the edge so that the
//! rest of the code never compares free-form strings.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A validated AWS region code, such as `eu-south-1` or `us-gov-west-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

/// Why a string is not a region code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not an AWS region code (expected something like `eu-south-1`)")]
pub struct InvalidRegion {
    pub value: String,
}

impl Region {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Region {
    type Err = InvalidRegion;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        // Shape: <area>-[<partition>-]<direction>-<number>, all lower-case ASCII.
        let parts: Vec<&str> = value.split('-').collect();
        let number_ok = parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit()));
        let words_ok = parts[..parts.len().saturating_sub(1)]
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()));
        if (3..=4).contains(&parts.len()) && number_ok && words_ok && value.len() <= 25 {
            Ok(Region(value.to_owned()))
        } else {
            Err(InvalidRegion {
                value: value.chars().take(64).collect(),
            })
        }
    }
}

impl TryFrom<String> for Region {
    type Error = InvalidRegion;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Region> for String {
    fn from(r: Region) -> String {
        r.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The region named in an ARN (`arn:aws:cloudwatch:eu-south-1:123:alarm:x`), if it has one.
pub fn region_of_arn(arn: &str) -> Option<Region> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some(_service), Some(region)) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    region.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_region_codes() {
        for r in [
            "eu-south-1",
            "eu-north-1",
            "us-east-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "il-central-1",
        ] {
            assert_eq!(r.parse::<Region>().map(|r| r.to_string()), Ok(r.to_owned()));
        }
    }

    #[test]
    fn rejects_what_is_not_a_region_code() {
        for r in [
            "",
            "EU-SOUTH-1",
            "eu-south",
            "eu-south-x",
            "eu south 1",
            "Milan",
            "eu-south-1\n",
            "a-b-c-d-1",
        ] {
            assert!(r.parse::<Region>().is_err(), "{r:?} was accepted");
        }
    }

    #[test]
    fn region_is_read_from_an_arn() {
        assert_eq!(
            region_of_arn("arn:aws:cloudwatch:eu-south-1:123456789012:alarm:api-5xx"),
            Some("eu-south-1".parse().unwrap())
        );
        assert_eq!(region_of_arn("arn:aws:route53:::hostedzone/Z1"), None);
        assert_eq!(region_of_arn("not-an-arn"), None);
    }
}
