using System.Diagnostics;
using System.Net.Sockets;
using Sockeye.Tests.Support;
using Xunit.Abstractions;

namespace Sockeye.Reliability.Support;

/// <summary>
/// One scenario's server and its bookkeeping: a real <see cref="TcpServer"/> on loopback port 0, the
/// process's open-descriptor count taken once the server has served (the baseline), and the figures
/// the scenario measured, printed to the test output and appended to <see cref="FiguresFile"/>.
/// </summary>
/// <remarks>
/// Disposing asserts the "no leaks" rule every scenario ends with (issue 10, scenario 9): the active
/// connection gauge is back to zero, no connection is left in the deadline scanner, and the process
/// holds no more descriptors than at the baseline (the clients are in this process too, so a socket
/// leaked on either side shows).
/// </remarks>
internal sealed class Scenario : IAsyncDisposable
{
    /// <summary>Descriptors the runtime may open on its own during a scenario (two per assembly loaded late).</summary>
    private const int DescriptorSlack = 8;

    private readonly ITestOutputHelper _output;
    private readonly string _name;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _baselineDescriptors;
    private int _baselineSockets;

    private Scenario(ITestOutputHelper output, string name, TcpServer server)
    {
        _output = output;
        _name = name;
        Server = server;
    }

    /// <summary>Where every run's figures are appended, one line per figure (RELIABILITY.md quotes them).</summary>
    public static string FiguresFile { get; } = Path.Combine(AppContext.BaseDirectory, "reliability-figures.txt");

    public TcpServer Server { get; }

    public System.Net.IPEndPoint EndPoint => Server.LocalEndPoint!;

    /// <summary>Descriptors the process held once the server had served its warm-up connection.</summary>
    public int BaselineDescriptors => _baselineDescriptors;

    /// <summary>Starts a server with <paramref name="options"/> and <paramref name="handler"/>, proves it
    /// with one connection that the handler sees as closed at once, and takes the descriptor baseline.</summary>
    public static async Task<Scenario> StartAsync(ITestOutputHelper output, string name, TcpServerOptions options, Func<Connection, Task> handler)
    {
        var server = new TcpServer(options);
        await server.StartAsync(handler);
        var scenario = new Scenario(output, name, server);

        // The first socket in the process opens the runtime's epoll descriptors: count after it.
        using (var warmUp = await Loopback.ConnectAsync(server.LocalEndPoint!))
        {
            warmUp.Shutdown(SocketShutdown.Send);
            await warmUp.ReceiveEndAsync();
        }

        await Loopback.EventuallyAsync(() => server.ActiveConnections == 0, "the warm-up connection is released");
        scenario._baselineDescriptors = OpenDescriptors();
        scenario._baselineSockets = OpenSockets("self");
        return scenario;
    }

    /// <summary>How many file descriptors this process holds now.</summary>
    public static int OpenDescriptors() => Directory.GetFiles("/proc/self/fd").Length;

    /// <summary>How many of process <paramref name="pid"/>'s descriptors are sockets ("self" for this one).
    /// Sockets, because the runtime opens other descriptors on its own (two per assembly it loads
    /// late, for instance to format a stack trace) and those are not leaks.</summary>
    public static int OpenSockets(string pid) => Directory.GetFiles($"/proc/{pid}/fd").Count(fd =>
    {
        try
        {
            return new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true;
        }
        catch (IOException)
        {
            return false; // closed while we looked
        }
    });

    /// <summary>Prints <paramref name="figure"/> and appends it to <see cref="FiguresFile"/>.</summary>
    public void Record(string figure, object value) => Record(_output, _name, figure, value);

    /// <summary>Prints one figure of scenario <paramref name="name"/> (for example "11 admin-port flood")
    /// and appends it to <see cref="FiguresFile"/>: for the scenarios that run the server in a child
    /// process and so have no <see cref="Scenario"/>.</summary>
    public static void Record(ITestOutputHelper output, string name, string figure, object value)
    {
        var line = FormattableString.Invariant($"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ} {name}: {figure} = {value}");
        output.WriteLine(line);
        lock (FiguresFile)
        {
            File.AppendAllText(FiguresFile, line + Environment.NewLine);
        }
    }

    /// <summary>Waits until every connection is released and the descriptors are back to the baseline.</summary>
    public async Task AssertNoLeaksAsync()
    {
        await Loopback.EventuallyAsync(() => Server.ActiveConnections == 0, $"every connection is released (active: {Server.ActiveConnections})");
        await Loopback.EventuallyAsync(() => Server.DeadlineScanner.Registered == 0, "no connection is left in the deadline scanner");
        var open = 0;
        var sockets = 0;
        try
        {
            await Loopback.EventuallyAsync(() => (sockets = OpenSockets("self")) <= _baselineSockets, "the sockets are back to the baseline");
            await Loopback.EventuallyAsync(() => (open = OpenDescriptors()) <= _baselineDescriptors + DescriptorSlack, "the descriptors are back to the baseline");
        }
        catch (TimeoutException)
        {
            Assert.Fail($"{sockets} sockets and {open} descriptors open, baseline {_baselineSockets} and {_baselineDescriptors}");
        }

        Record("sockets at baseline / after", $"{_baselineSockets} / {sockets}");
        Record("descriptors at baseline / after", $"{_baselineDescriptors} / {open}");
    }

    public async ValueTask DisposeAsync()
    {
        Record("scenario time", $"{_clock.Elapsed.TotalSeconds:F1} s");
        await Server.DisposeAsync();
    }
}
