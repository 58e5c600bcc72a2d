using BenchmarkDotNet.Running;

namespace Sockeye.Benchmarks;

/// <summary>Runs the benchmarks chosen on the command line, e.g. <c>--filter *Codec* --job short</c>.</summary>
public static class Program
{
    /// <summary>Hands the command line to BenchmarkDotNet's switcher over every benchmark in this assembly.</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
