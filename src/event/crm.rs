//! Payloads of the `crm.*` events: users, contacts, lists, tags, sequences and leads.

use super::common::{NamedRef, Person};
use crate::BuildError;

payload! {
    /// A user registered or updated: `crm.user.created`, `crm.user.updated`.
    pub struct UserChange / UserChangeBuilder {
        required {
            /// The user as it is now.
            user: Person,
        }
        optional {
            /// Where the change came from: `signup_form`, `admin`, `api`, `import`...
            source: String,
        }
        lists {
            /// The fields that changed (`crm.user.updated`).
            changed_fields: String,
        }
    }
}

payload! {
    /// A contact joined or left a mailing list: `crm.contact.subscribed`, `crm.contact.unsubscribed`.
    pub struct ListMembership / ListMembershipBuilder {
        required {
            /// The contact.
            contact: Person,
            /// The list.
            list: NamedRef,
        }
        optional {
            /// Why (`form`, `admin`, `unsubscribe_link`, `bounce`...).
            reason: String,
        }
        lists {}
    }
}

payload! {
    /// Something happened to a contact as a whole: `crm.contact.marked_spam`, `crm.contact.deleted`.
    pub struct ContactChange / ContactChangeBuilder {
        required {
            /// The contact (as it was, for a deletion).
            contact: Person,
        }
        optional {
            /// Why, when the platform says (`spam_complaint`, `admin`, `gdpr_request`...).
            reason: String,
        }
        lists {}
    }
}

fn tags_not_empty(t: &TagChange) -> Result<(), BuildError> {
    if t.tags.iter().any(|tag| !tag.trim().is_empty()) {
        Ok(())
    } else {
        Err(BuildError::MissingField {
            payload: "TagChange",
            field: "tags",
        })
    }
}

payload! {
    /// Tags added to or removed from a contact: `crm.contact.tag_added`, `crm.contact.tag_removed`.
    pub struct TagChange / TagChangeBuilder {
        required {
            /// The contact.
            contact: Person,
        }
        optional {}
        lists {
            /// The tags added or removed; at least one.
            tags: String,
        }
        check tags_not_empty;
    }
}

payload! {
    /// A contact enrolled in or removed from an e-mail sequence:
    /// `crm.contact.sequence_added`, `crm.contact.sequence_removed`.
    pub struct SequenceMembership / SequenceMembershipBuilder {
        required {
            /// The contact.
            contact: Person,
            /// The sequence.
            sequence: NamedRef,
        }
        optional {}
        lists {}
    }
}

payload! {
    /// An e-mail lead captured by a form: `crm.lead.captured`.
    pub struct Lead / LeadBuilder {
        required {
            /// The lead (at least an e-mail address).
            contact: Person,
        }
        optional {
            /// The form or page that captured it.
            form: NamedRef,
            /// Where it came from (`popup`, `landing_page`, a UTM source...).
            source: String,
        }
        lists {}
    }
}
