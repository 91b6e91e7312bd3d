//! Payloads of the `community.*` events: members, posts, likes and comments.

use super::common::{NamedRef, Person};

payload! {
    /// A member joined or left a community: `community.member.added`, `community.member.removed`.
    pub struct CommunityMembership / CommunityMembershipBuilder {
        required {
            /// The member.
            member: Person,
            /// The community.
            community: NamedRef,
        }
        optional {
            /// Why a member was removed (`left`, `banned`, `access_expired`...).
            reason: String,
        }
        lists {}
    }
}

payload! {
    /// A post published in a community: `community.post.created`.
    pub struct Post / PostBuilder {
        required {
            /// The platform's post id.
            id: String,
            /// The community.
            community: NamedRef,
            /// Who wrote it.
            author: Person,
        }
        optional {
            /// The title.
            title: String,
            /// The text.
            body: String,
            /// Where it can be read.
            url: String,
        }
        lists {}
    }
}

payload! {
    /// A member liked a post: `community.post.liked`.
    pub struct PostLike / PostLikeBuilder {
        required {
            /// The liked post.
            post_id: String,
            /// The community.
            community: NamedRef,
            /// Who liked it.
            member: Person,
        }
        optional {}
        lists {}
    }
}

payload! {
    /// A member commented on a post: `community.comment.created`.
    pub struct Comment / CommentBuilder {
        required {
            /// The platform's comment id.
            id: String,
            /// The post commented on.
            post_id: String,
            /// The community.
            community: NamedRef,
            /// Who wrote it.
            author: Person,
        }
        optional {
            /// The text.
            body: String,
            /// The comment this one answers, in a thread.
            parent_comment_id: String,
            /// Where it can be read.
            url: String,
        }
        lists {}
    }
}
