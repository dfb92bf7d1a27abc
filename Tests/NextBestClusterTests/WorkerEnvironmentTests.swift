import Testing
@testable import NextBestCluster

/// `WorkerEnvironment`: the local workers' malloc is asked for huge pages unless the operator chose otherwise.
@Suite struct WorkerEnvironmentTests {
    @Test func hugePagesAreAddedToTheTunablesUnlessTheyNameThemAlready() {
        #expect(WorkerEnvironment.withHugePages(["PATH": "/bin"]) == ["PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"])
        #expect(WorkerEnvironment.withHugePages(["GLIBC_TUNABLES": "glibc.malloc.arena_max=2"])["GLIBC_TUNABLES"]
                == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1")
        // An operator's own setting, turned off included, is kept.
        #expect(WorkerEnvironment.withHugePages(["GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"])["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=0")
        #expect(WorkerEnvironment.withHugePages(["GLIBC_TUNABLES": "glibc.malloc.hugetlb=2:glibc.malloc.arena_max=4"])["GLIBC_TUNABLES"]
                == "glibc.malloc.hugetlb=2:glibc.malloc.arena_max=4")
    }
}
