using System.Net;

namespace Sockeye.Hosting;

/// <summary>
/// A listener the host runs: its name, the protocol it serves, its bound options and its
/// <see cref="TcpServer"/> (for the counters and the chosen port). Found through
/// <see cref="SockeyeListeners"/> once the host has started.
/// </summary>
public sealed class SockeyeListener
{
    internal SockeyeListener(string name, string protocol, SockeyeListenerOptions options, TcpServer server)
    {
        Name = name;
        Protocol = protocol;
        Options = options;
        Server = server;
    }

    /// <summary>The listener's name, as in <c>Sockeye:Listeners:NAME</c> or <c>AddListener(NAME, ...)</c>.</summary>
    public string Name { get; }

    /// <summary>The protocol it serves: a built-in name such as <c>echo</c>, or the handler's type name
    /// when the handler is set in code.</summary>
    public string Protocol { get; }

    /// <summary>The options it was started with, after configuration binding.</summary>
    public SockeyeListenerOptions Options { get; }

    /// <summary>The server: counters, state, and the address it listens on.</summary>
    public TcpServer Server { get; }

    /// <summary>The address and port the listener is bound to (the kernel's choice for port 0).</summary>
    public IPEndPoint? LocalEndPoint => Server.LocalEndPoint;

    /// <summary>What the drain did when the host stopped; <see langword="null"/> until then.</summary>
    public ShutdownSummary? ShutdownSummary { get; internal set; }
}
