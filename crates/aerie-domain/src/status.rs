//! The incident status workflow: new → acknowledged → in_progress → complete.

use crate::DomainError;

crate::string_enum! {
    /// Where an analyst's work on an incident stands.
    pub enum Status {
        New = "new",
        Acknowledged = "acknowledged",
        InProgress = "in_progress",
        Complete = "complete",
    }
}

impl Status {
    /// Whether an analyst may move an incident from `self` to `to`.
    ///
    /// Work moves forward (steps may be skipped); a complete incident may be
    /// reopened to in_progress. Nothing returns to `new`.
    pub fn check_transition(self, to: Status) -> Result<(), DomainError> {
        let allowed = to > self || (self == Status::Complete && to == Status::InProgress);
        if allowed {
            Ok(())
        } else if to == self {
            Err(DomainError::new(
                "status",
                format!("incident is already {self}"),
            ))
        } else {
            Err(DomainError::new(
                "status",
                format!(
                    "cannot move from {self} to {to}: status moves forward \
                     (new → acknowledged → in_progress → complete); \
                     a complete incident may be reopened to in_progress"
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;

    #[test]
    fn workflow() {
        assert!(New.check_transition(Acknowledged).is_ok());
        assert!(New.check_transition(Complete).is_ok());
        assert!(Complete.check_transition(InProgress).is_ok());
        assert!(Complete.check_transition(New).is_err());
        assert!(InProgress.check_transition(Acknowledged).is_err());
        assert!(New.check_transition(New).is_err());
    }
}
