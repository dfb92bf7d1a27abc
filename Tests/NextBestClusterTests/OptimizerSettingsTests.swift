import Foundation
import Testing
import NextBestCore
@testable import NextBestCluster

/// The optimizer defaults: stated once (`OptimizerSettings`) and shared by the solver, both pipelines'
/// options and the commands (see `CommandLineRefusalTests.theOptimizerOptionsHaveOneSetOfDefaults`).
@Suite struct OptimizerSettingsTests {
    @Test func theOptimizerDefaultsAreStatedOnceAndSharedByEveryPipeline() {
        let d = OptimizerSettings.standard
        #expect(d == OptimizerSettings())
        #expect(d.shardSize == 50_000 && d.maxRounds == 60 && d.gapTolerance == 5e-4 && d.presolveCustomers == 250_000)
        let solver = DualSolver.Options()
        #expect(solver.maxRounds == d.maxRounds && solver.gapTolerance == d.gapTolerance && solver.presolveCustomers == d.presolveCustomers)
        #expect(LocalRunner.Options(storePath: "s", outDir: "o").settings == d)
        #expect(Coordinator.Options(bind: "tcp://127.0.0.1:*", storePath: "s", outDir: "o").settings == d)
        // The settings make the solver's options, with the warm start given.
        var custom = OptimizerSettings(shardSize: 10, maxRounds: 3, gapTolerance: 0.01, presolveCustomers: 7)
        let o = custom.solverOptions()
        #expect(o.maxRounds == 3 && o.gapTolerance == 0.01 && o.presolveCustomers == 7 && o.warmStart == nil)
        custom.shardSize = 0
        #expect(LocalRunner.Options(storePath: "s", outDir: "o", settings: custom).settings.shardSize == 1)
    }
}
