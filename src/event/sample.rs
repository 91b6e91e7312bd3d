//! A realistic sample payload for every catalogue type: for test pings, documentation, the
//! debugging CLI and tests. All values are fixed, so samples are reproducible.

use super::*;
use crate::Timestamp;

impl Event {
    /// A realistic example of the given catalogue type, with fixed values.
    ///
    /// Useful for a Test button, for documentation and for exercising a receiver.
    ///
    /// # Examples
    ///
    /// ```
    /// use lms_webhooks::{Event, EventType};
    ///
    /// for &t in EventType::ALL {
    ///     assert_eq!(Event::sample(t).event_type(), Some(t));
    /// }
    /// ```
    pub fn sample(event_type: EventType) -> Event {
        // Every sample is checked by a unit test; the fallback only keeps this function total.
        try_sample(event_type).unwrap_or_else(|_| {
            Event::Webhook(WebhookEvent::Test(TestPing {
                endpoint_id: None,
                message: None,
                extra: Extra::new(),
            }))
        })
    }
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn learner() -> Result<Person, BuildError> {
    Person::builder()
        .id("usr_4821")
        .email("ada.lovelace@example.com")
        .first_name("Ada")
        .last_name("Lovelace")
        .phone("+33612345678")
        .locale("fr-FR")
        .country("FR")
        .build()
}

fn course() -> Result<Course, BuildError> {
    Course::builder()
        .id("crs_rust_101")
        .title("Rust for Course Creators")
        .url("https://academy.example.com/courses/rust-101")
        .build()
}

fn named(id: &str, name: &str) -> Result<NamedRef, BuildError> {
    NamedRef::builder().id(id).name(name).build()
}

fn product() -> Result<Product, BuildError> {
    Product::builder()
        .id("prd_rust_101")
        .name("Rust for Course Creators")
        .kind("course")
        .price(eur(19_900))
        .quantity(1u32)
        .build()
}

fn transaction(status: &str, reason: Option<&str>) -> Result<Transaction, BuildError> {
    let mut b = Transaction::builder()
        .id("tr_1001")
        .amount(eur(19_900))
        .tax(eur(3_317))
        .customer(learner()?)
        .status(TransactionStatus::from(status))
        .product(product()?)
        .payment_method("card")
        .coupon("WELCOME10")
        .affiliate_id("aff_77")
        .invoice_id("inv_2026_0042")
        .created_at(at(1_795_420_800));
    if let Some(reason) = reason {
        b = b.reason(reason);
    }
    b.build()
}

fn plan() -> Result<Plan, BuildError> {
    Plan::builder()
        .id("pln_monthly")
        .name("Academy Monthly")
        .price(eur(2_900))
        .interval(BillingInterval::Month)
        .interval_count(1u32)
        .build()
}

fn subscription(status: SubscriptionStatus) -> Result<SubscriptionBuilder, BuildError> {
    Ok(Subscription::builder()
        .id("sub_311")
        .customer(learner()?)
        .plan(plan()?)
        .status(status)
        .current_period_end(at(1_798_012_800))
        .courses([course()?]))
}

fn enrollment(source: &str) -> Result<EnrollmentBuilder, BuildError> {
    Ok(Enrollment::builder()
        .member(learner()?)
        .course(course()?)
        .source(source))
}

fn quiz(score: u32, passed: bool) -> Result<QuizResult, BuildError> {
    QuizResult::builder()
        .member(learner()?)
        .quiz(named("qz_ownership", "Ownership and borrowing")?)
        .course(course()?)
        .score(score)
        .max_score(20u32)
        .pass_mark(14u32)
        .passed(passed)
        .attempt(2u32)
        .duration_seconds(540u32)
        .build()
}

fn webinar_activity(kind: &str, watched: Option<u32>) -> Result<WebinarActivity, BuildError> {
    let webinar = Webinar::builder()
        .id(format!("web_{kind}_12"))
        .title("Launch your first course")
        .starts_at(at(1_795_629_600))
        .url("https://academy.example.com/webinars/launch")
        .build()?;
    let mut b = WebinarActivity::builder()
        .registrant(learner()?)
        .webinar(webinar)
        .session_id("ses_2026_11_26")
        .join_url("https://academy.example.com/webinars/launch/join?t=9f2c");
    if let Some(seconds) = watched {
        b = b.watched_seconds(seconds);
    }
    b.build()
}

fn community() -> Result<NamedRef, BuildError> {
    named("com_makers", "Course Makers")
}

fn commission(paid: bool) -> Result<Commission, BuildError> {
    let mut b = Commission::builder()
        .id("com_5003")
        .affiliate_id("aff_77")
        .amount(eur(4_975))
        .transaction_id("tr_1001")
        .rate_basis_points(2_500u32);
    if paid {
        b = b.payout_method("bank_transfer").paid_at(at(1_796_112_000));
    }
    b.build()
}

fn try_sample(t: EventType) -> Result<Event, BuildError> {
    use EventType as T;
    Ok(match t {
        T::SalesTransactionCompleted => {
            SalesEvent::TransactionCompleted(transaction("completed", None)?).into()
        }
        T::SalesTransactionRefunded => {
            SalesEvent::TransactionRefunded(transaction("refunded", Some("requested_by_customer"))?)
                .into()
        }
        T::SalesTransactionFailed => {
            SalesEvent::TransactionFailed(transaction("failed", Some("card_declined"))?).into()
        }
        T::SalesTransactionCanceled => {
            SalesEvent::TransactionCanceled(transaction("canceled", Some("admin"))?).into()
        }
        T::SalesTransactionUpdated => {
            SalesEvent::TransactionUpdated(transaction("completed", None)?).into()
        }
        T::SalesTransactionDeleted => {
            SalesEvent::TransactionDeleted(transaction("canceled", None)?).into()
        }
        T::SalesInvoiceCreated => SalesEvent::InvoiceCreated(
            Invoice::builder()
                .id("inv_2026_0042")
                .number("2026-0042")
                .amount(eur(19_900))
                .tax(eur(3_317))
                .customer(learner()?)
                .transaction_id("tr_1001")
                .url("https://academy.example.com/invoices/2026-0042.pdf")
                .issued_at(at(1_795_420_800))
                .build()?,
        )
        .into(),
        T::SalesCreditNoteCreated => SalesEvent::CreditNoteCreated(
            CreditNote::builder()
                .id("cn_2026_0007")
                .number("AV-2026-0007")
                .amount(eur(19_900))
                .customer(learner()?)
                .invoice_id("inv_2026_0042")
                .transaction_id("tr_1001")
                .reason("refund")
                .issued_at(at(1_795_507_200))
                .build()?,
        )
        .into(),
        T::SalesSubscriptionCreated => {
            SalesEvent::SubscriptionCreated(subscription(SubscriptionStatus::Active)?.build()?)
                .into()
        }
        T::SalesSubscriptionUpdated => SalesEvent::SubscriptionUpdated(
            subscription(SubscriptionStatus::Active)?
                .previous_plan(named_plan("pln_basic", "Academy Basic", 1_900)?)
                .changed_by("learner")
                .build()?,
        )
        .into(),
        T::SalesSubscriptionCanceled => SalesEvent::SubscriptionCanceled(
            subscription(SubscriptionStatus::Canceled)?
                .cancel_at(at(1_798_012_800))
                .canceled_at(at(1_798_012_800))
                .build()?,
        )
        .into(),
        T::SalesSubscriptionPaid => SalesEvent::SubscriptionPaid(
            subscription(SubscriptionStatus::Active)?
                .amount_paid(eur(2_900))
                .installment(3u32)
                .build()?,
        )
        .into(),
        T::SalesSubscriptionTrialStarted => SalesEvent::SubscriptionTrialStarted(
            subscription(SubscriptionStatus::Trialing)?
                .trial_end(at(1_796_025_600))
                .build()?,
        )
        .into(),
        T::SalesSubscriptionTrialEnding => SalesEvent::SubscriptionTrialEnding(
            subscription(SubscriptionStatus::Trialing)?
                .trial_end(at(1_796_025_600))
                .build()?,
        )
        .into(),
        T::SalesPaymentCreated => SalesEvent::PaymentCreated(
            Payment::builder()
                .id("pay_9001")
                .amount(eur(2_900))
                .customer(learner()?)
                .subscription_id("sub_311")
                .product(product()?)
                .payment_method("card")
                .installment(3u32)
                .build()?,
        )
        .into(),
        T::SalesProductPurchased => SalesEvent::ProductPurchased(
            Purchase::builder()
                .id("ord_5521")
                .customer(learner()?)
                .amount(eur(17_910))
                .coupon("WELCOME10")
                .payment_method("card")
                .products([product()?])
                .build()?,
        )
        .into(),

        T::CrmUserCreated => CrmEvent::UserCreated(
            UserChange::builder()
                .user(learner()?)
                .source("signup_form")
                .build()?,
        )
        .into(),
        T::CrmUserUpdated => CrmEvent::UserUpdated(
            UserChange::builder()
                .user(learner()?)
                .source("admin")
                .changed_fields(["phone", "locale"])
                .build()?,
        )
        .into(),
        T::CrmContactSubscribed => CrmEvent::ContactSubscribed(list_membership("form")?).into(),
        T::CrmContactUnsubscribed => {
            CrmEvent::ContactUnsubscribed(list_membership("unsubscribe_link")?).into()
        }
        T::CrmContactMarkedSpam => CrmEvent::ContactMarkedSpam(
            ContactChange::builder()
                .contact(learner()?)
                .reason("spam_complaint")
                .build()?,
        )
        .into(),
        T::CrmContactDeleted => CrmEvent::ContactDeleted(
            ContactChange::builder()
                .contact(learner()?)
                .reason("gdpr_request")
                .build()?,
        )
        .into(),
        T::CrmContactTagAdded => CrmEvent::ContactTagAdded(tag_change()?).into(),
        T::CrmContactTagRemoved => CrmEvent::ContactTagRemoved(tag_change()?).into(),
        T::CrmContactSequenceAdded => CrmEvent::ContactSequenceAdded(sequence()?).into(),
        T::CrmContactSequenceRemoved => CrmEvent::ContactSequenceRemoved(sequence()?).into(),
        T::CrmLeadCaptured => CrmEvent::LeadCaptured(
            Lead::builder()
                .contact(Person::builder().email("grace@example.com").build()?)
                .form(named("frm_ebook", "Free e-book: Teaching online")?)
                .source("landing_page")
                .build()?,
        )
        .into(),

        T::CourseMemberAdded => {
            CourseEvent::MemberAdded(enrollment("purchase")?.product(product()?).build()?).into()
        }
        T::CourseMemberEnrolledFree => {
            CourseEvent::MemberEnrolledFree(enrollment("free")?.build()?).into()
        }
        T::CourseMemberRemoved => {
            CourseEvent::MemberRemoved(enrollment("admin")?.reason("refund").build()?).into()
        }
        T::CourseMemberStarted => {
            CourseEvent::MemberStarted(enrollment("purchase")?.build()?).into()
        }
        T::CourseMemberCompleted => CourseEvent::MemberCompleted(
            Completion::builder()
                .member(learner()?)
                .course(course()?)
                .progress_percent(100u8)
                .time_spent_seconds(27_000u32)
                .grade("A")
                .build()?,
        )
        .into(),
        T::CourseProgramCompleted => CourseEvent::ProgramCompleted(
            ProgramCompletion::builder()
                .member(learner()?)
                .program(named("prg_creator_path", "Course Creator Path")?)
                .courses([course()?])
                .build()?,
        )
        .into(),
        T::CourseQuizCompleted => CourseEvent::QuizCompleted(quiz(16, true)?).into(),
        T::CourseQuizPassed => CourseEvent::QuizPassed(quiz(16, true)?).into(),
        T::CourseQuizFailed => CourseEvent::QuizFailed(quiz(9, false)?).into(),
        T::CourseEvaluationCompleted => CourseEvent::EvaluationCompleted(
            EvaluationResult::builder()
                .member(learner()?)
                .evaluation(named("ev_final_project", "Final project")?)
                .course(course()?)
                .score(87u32)
                .max_score(100u32)
                .grade("B+")
                .reviewer(Person::builder().id("usr_1").first_name("Alan").build()?)
                .build()?,
        )
        .into(),
        T::CourseCertificateAwarded => CourseEvent::CertificateAwarded(
            Certificate::builder()
                .id("cert_7781")
                .member(learner()?)
                .course(course()?)
                .url("https://academy.example.com/certificates/cert_7781")
                .credential_id("RUST101-7781")
                .build()?,
        )
        .into(),
        T::CourseSectionPreviewed => CourseEvent::SectionPreviewed(
            SectionPreview::builder()
                .course(course()?)
                .section(named("sec_intro", "Introduction")?)
                .visitor(Person::builder().email("visitor@example.com").build()?)
                .build()?,
        )
        .into(),

        T::WebinarLiveRegistered => {
            WebinarEvent::LiveRegistered(webinar_activity("live", None)?).into()
        }
        T::WebinarLiveJoined => WebinarEvent::LiveJoined(webinar_activity("live", None)?).into(),
        T::WebinarLiveReplayViewed => {
            WebinarEvent::LiveReplayViewed(webinar_activity("live", Some(2_400))?).into()
        }
        T::WebinarAutomatedRegistered => {
            WebinarEvent::AutomatedRegistered(webinar_activity("auto", None)?).into()
        }
        T::WebinarAutomatedJoined => {
            WebinarEvent::AutomatedJoined(webinar_activity("auto", None)?).into()
        }
        T::WebinarAutomatedReplayViewed => {
            WebinarEvent::AutomatedReplayViewed(webinar_activity("auto", Some(1_800))?).into()
        }
        T::WebinarFunnelEntered => WebinarEvent::FunnelEntered(
            FunnelEntry::builder()
                .visitor(Person::builder().email("visitor@example.com").build()?)
                .funnel(named("fnl_launch", "Launch funnel")?)
                .page_url("https://academy.example.com/launch")
                .build()?,
        )
        .into(),

        T::CommunityMemberAdded => CommunityEvent::MemberAdded(
            CommunityMembership::builder()
                .member(learner()?)
                .community(community()?)
                .build()?,
        )
        .into(),
        T::CommunityMemberRemoved => CommunityEvent::MemberRemoved(
            CommunityMembership::builder()
                .member(learner()?)
                .community(community()?)
                .reason("access_expired")
                .build()?,
        )
        .into(),
        T::CommunityPostCreated => CommunityEvent::PostCreated(
            Post::builder()
                .id("pst_310")
                .community(community()?)
                .author(learner()?)
                .title("My first module is live")
                .body("Thanks all for the feedback on the outline!")
                .url("https://academy.example.com/community/posts/pst_310")
                .build()?,
        )
        .into(),
        T::CommunityPostLiked => CommunityEvent::PostLiked(
            PostLike::builder()
                .post_id("pst_310")
                .community(community()?)
                .member(learner()?)
                .build()?,
        )
        .into(),
        T::CommunityCommentCreated => CommunityEvent::CommentCreated(
            Comment::builder()
                .id("cmt_88")
                .post_id("pst_310")
                .community(community()?)
                .author(learner()?)
                .body("Congratulations!")
                .build()?,
        )
        .into(),

        T::AffiliateAccountCreated => AffiliateEvent::AccountCreated(
            Affiliate::builder()
                .id("aff_77")
                .person(learner()?)
                .code("ADA10")
                .referral_url("https://academy.example.com/?ref=ADA10")
                .program(named("afp_main", "Partners")?)
                .build()?,
        )
        .into(),
        T::AffiliateCommissionGenerated => {
            AffiliateEvent::CommissionGenerated(commission(false)?).into()
        }
        T::AffiliateCommissionPaid => AffiliateEvent::CommissionPaid(commission(true)?).into(),

        T::NotificationsSent => NotificationEvent::Sent(
            Notifications::builder()
                .notifications([PushNotification::builder()
                    .title("Keep your streak going")
                    .body("Lesson 4 of Rust for Course Creators is waiting for you.")
                    .path("/courses/rust-101/lessons/4")
                    .user_id("usr_4821")
                    .custom_id("crm-000482")
                    .phone_number("+33612345678")
                    .build()?])
                .build()?,
        )
        .into(),
        T::WebhookTest => WebhookEvent::Test(
            TestPing::builder()
                .message("This is a test delivery from lms-webhooks.")
                .build()?,
        )
        .into(),
    })
}

fn named_plan(id: &str, name: &str, price: i64) -> Result<Plan, BuildError> {
    Plan::builder()
        .id(id)
        .name(name)
        .price(eur(price))
        .interval(BillingInterval::Month)
        .build()
}

fn list_membership(reason: &str) -> Result<ListMembership, BuildError> {
    ListMembership::builder()
        .contact(learner()?)
        .list(named("lst_newsletter", "Newsletter")?)
        .reason(reason)
        .build()
}

fn tag_change() -> Result<TagChange, BuildError> {
    TagChange::builder()
        .contact(learner()?)
        .tags(["vip", "cohort-2026"])
        .build()
}

fn sequence() -> Result<SequenceMembership, BuildError> {
    SequenceMembership::builder()
        .contact(learner()?)
        .sequence(named("seq_onboarding", "Onboarding")?)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_builds_and_has_its_type() {
        for &t in EventType::ALL {
            let event = try_sample(t).unwrap_or_else(|e| panic!("sample for {t}: {e}"));
            assert_eq!(event.event_type(), Some(t));
        }
    }
}
