import ArgumentParser
import Foundation
import NextBestCore
import NextBestStore
import NextBestCluster

/// `nextbest score --store DIR --model ID --out FILE.csv`: every customer's propensity under one model.
struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write customer_id,propensity for every customer under one model.")
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "The model id.") var model: String
    @Option(help: "The output CSV file.") var out: String
    @OptionGroup var logging: LogOptions

    func run() throws {
        try reportingErrors(logging.logFormat) {
            try OutputPlace.prepareFile(out, option: "--out")
            let t = Date()
            let store = try Store(path: storeOptions.store, readOnly: true)
            let (bound, featureCount) = try store.env.read { txn -> (BoundModel, Int) in
                guard let schema = try store.schema(in: txn) else { throw StoreError.missing("the store has no profiles") }
                guard let m = try store.model(model, in: txn) else { throw StoreError.missing("the store has no model '\(model)'") }
                return (try m.bound(to: schema), schema.count)
            }
            var rows: [UInt8] = Array("customer_id,propensity\n".utf8)
            var features = [Float](repeating: 0, count: featureCount)
            var n = 0
            try store.env.read { txn in
                try txn.scan(store.profiles) { k, v in
                    guard let id = ProfileCodec.customerID(key: k) else { throw StoreError.corrupt(database: "profiles", key: "\(Array(k))", reason: "key is not 8 bytes") }
                    let r = features.withUnsafeMutableBufferPointer { ProfileCodec.decode(v, featureCount: featureCount, into: $0) }
                    if case .failure(let e) = r { throw StoreError.corrupt(database: "profiles", key: "customer \(id)", reason: e.description) }
                    let p = features.withUnsafeBufferPointer { bound.propensity($0) }
                    guard !p.isNaN else { throw NonFinitePropensity(model: model, customer: id) }
                    rows.appendDecimal(id)
                    rows.append(UInt8(ascii: ","))
                    FixedDecimal.append(Double(p), decimals: 9, to: &rows)
                    rows.append(UInt8(ascii: "\n"))
                    n += 1
                    return true
                }
            }
            try AtomicFile.write([rows], to: out)
            print("scored \(n) customers with model '\(model)' into \(out) in \(elapsed(t))")
        }
    }
}
