using BenchmarkDotNet.Running;

namespace Sockeye.Benchmarks;

/// <summary>Runs the benchmarks chosen on the command line, e.g. <c>--filter *Codec* --job short</c>.</summary>
public static class Program
{
    /// <summary>Hands the command line to BenchmarkDotNet's switcher over every benchmark in this assembly;
    /// <c>--worker-pool-burst</c> runs <see cref="WorkerPoolBurst"/> instead.</summary>
    public static void Main(string[] args)
    {
        if (args is ["--worker-pool-burst", ..])
        {
            WorkerPoolBurst.RunAsync().GetAwaiter().GetResult();
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
