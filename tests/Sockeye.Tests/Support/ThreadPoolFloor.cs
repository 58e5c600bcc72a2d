using System.Runtime.CompilerServices;

namespace Sockeye.Tests.Support;

/// <summary>
/// Gives the test process's thread pool a floor of threads before any test runs. On a 2-core machine
/// the pool starts with 2 threads and adds one only about every half second while starved; in the test
/// host some of those are held by work that is not ours (sampling showed 3 threads, all taken, and work
/// items queued for a second at a time), so the servers a test runs in this process waited for a
/// thread: a UDP echo test saw its last replies come back after the client's 500 ms loss timeout, where
/// the same server as its own process (`sockeye serve udp-echo`) lost none at 40,000 datagrams/s.
/// A server in a process of its own does not share its pool with a test host.
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
