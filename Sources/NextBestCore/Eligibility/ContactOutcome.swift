/// The outcome of one contact recorded in the history.
public enum ContactOutcome: UInt8, Sendable, CaseIterable, Codable {
    case accepted = 1
    case rejected = 2
    case ignored = 3

    /// Parses the history file's spelling (`accepted`, `rejected`, `ignored`).
    public init?(text: some StringProtocol) {
        switch text {
        case "accepted": self = .accepted
        case "rejected": self = .rejected
        case "ignored": self = .ignored
        default: return nil
        }
    }

    public var text: String {
        switch self {
        case .accepted: return "accepted"
        case .rejected: return "rejected"
        case .ignored: return "ignored"
        }
    }
}

/// One row of contact history: an offer shown to a customer on a channel on a day, and the outcome.
public struct ContactEvent: Sendable, Equatable {
    public var customerID: UInt64
    public var offerID: String
    public var channel: String
    public var day: CalendarDay
    public var outcome: ContactOutcome

    public init(customerID: UInt64, offerID: String, channel: String, day: CalendarDay, outcome: ContactOutcome) {
        self.customerID = customerID; self.offerID = offerID; self.channel = channel
        self.day = day; self.outcome = outcome
    }
}
