import ArgumentParser
struct Generate: ParsableCommand { func run() throws {} }
