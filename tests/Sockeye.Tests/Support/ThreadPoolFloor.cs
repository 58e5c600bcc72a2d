using System.Runtime.CompilerServices;

namespace Sockeye.Tests.Support;

/// <summary>
/// Gives the test process's thread pool a floor of threads before any test runs. On a 2-core machine
/// the pool starts with 2 threads and adds one only about every half second while starved. In the test
/// host, sampling during a UDP echo test showed 3 threads, all taken, and work items queued for a second
/// at a time; what held them was not found (the diagnostics port is not reachable here). The server under
/// test waited for a thread, and its last replies came back after the client's 500 ms loss timeout,
/// where the same server as its own process (`sockeye serve udp-echo`) lost none at 40,000 datagrams/s.
/// </summary>
internal static class ThreadPoolFloor
{
    [ModuleInitializer]
    internal static void Raise()
    {
        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), completionPorts);
    }
}
