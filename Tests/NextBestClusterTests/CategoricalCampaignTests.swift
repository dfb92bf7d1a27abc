import Foundation
import Testing
import NextBestTestKit

/// A campaign mixing every model format the store accepts (LightGBM and XGBoost JSON/UBJSON models that
/// split on text columns, a logistic model, an ONNX model) over profiles with categorical columns, run end to end
/// through the command line: `nba.csv` is the same bytes whichever number of workers scores it.
@Suite struct CategoricalCampaignTests {
    static let dir = FixtureStore.root + "/categorical"

    func nextbest(_ args: [String], input: String? = nil) throws -> (status: Int32, err: String, out: String) {
        let p = Process()
        let stdin = Pipe()
        if input != nil { p.standardInput = stdin }
        p.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
        p.arguments = args
        let err = Pipe(), out = Pipe()
        p.standardError = err
        p.standardOutput = out
        try p.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        // Small outputs: read one pipe after the other.
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text, stdout)
    }

    /// A column turning to text after numbers is coded by reading the file again; standard input cannot
    /// be read again, so there it is refused, naming --categorical, and nothing is stored.
    @Test func aColumnTurningTextOnStandardInputNeedsCategorical() throws {
        let store = ClusterFixtures.tempDir("catstdin") + "/store"
        let csv = "customer_id,region,segment,x,tier\n1,n,m,1.5,1\n2,n,m,2,gold\n"
        let refused = try nextbest(["import", "profiles", "-", "--store", store], input: csv)
        #expect(refused.status != 0 && refused.err.contains("standard input:3") && refused.err.contains("--categorical tier"), "\(refused.err)")
        let declared = try nextbest(["import", "profiles", "-", "--categorical", "tier", "--store", store], input: csv)
        #expect(declared.status == 0, "\(declared.err)")
        let inspect = try nextbest(["inspect", "--store", store])
        #expect(inspect.out.contains("categorical tier (2): 1, gold"), "\(inspect.out)")
    }

    @Test func mixedFormatCampaignIsTheSameForEveryWorkerCount() throws {
        let store = ClusterFixtures.tempDir("catrun") + "/store"
        let imports: [[String]] = [
            ["profiles", Self.dir + "/profiles.csv", "--categorical", "branch"], ["profiles", Self.dir + "/profiles_more.csv"],
            ["model", Self.dir + "/lgb_text.txt", "--id", "lgb_text"], ["model", Self.dir + "/xgb_text.json", "--id", "xgb_text"],
            ["model", Self.dir + "/xgb_text.ubj", "--id", "xgb_ubj"], ["model", Self.dir + "/xgb_onehot.json", "--id", "xgb_onehot"],
            ["model", Self.dir + "/logistic.json", "--id", "logistic"], ["model", Self.dir + "/onnx_numeric.onnx", "--id", "onnx_numeric"],
            ["campaign", Self.dir + "/campaign.yaml"],
        ]
        for args in imports {
            let r = try nextbest(["import"] + args + ["--store", store])
            #expect(r.status == 0, "\(args): \(r.err)")
        }
        let inspect = try nextbest(["inspect", "--store", store])
        #expect(inspect.out.contains("categorical branch (6): 330, 412, 999, 101, 57, 205"), "\(inspect.out)")
        #expect(inspect.out.contains("categorical occupation (9):") && inspect.out.contains("diver"), "\(inspect.out)")
        var outputs: [Data] = []
        for workers in ["0", "1", "3"] {
            let out = ClusterFixtures.tempDir("catout")
            let r = try nextbest(["run", "--store", store, "--out", out, "--workers", workers, "--shard-size", "50",
                                  "--no-warm-start", "--quiet"])
            #expect(r.status == 0, "--workers \(workers): \(r.err)")
            outputs.append(try Data(contentsOf: URL(fileURLWithPath: out + "/nba.csv")))
        }
        let text = String(decoding: outputs[0], as: UTF8.self)
        // Every offer (so every model format) is chosen for someone.
        for offer in ["GOLD1", "GOLD2", "SAV1", "INS1", "LOAN1", "INV1"] { #expect(text.contains("," + offer + ","), "\(offer) never chosen") }
        #expect(outputs.allSatisfy { $0 == outputs[0] })
    }
}
