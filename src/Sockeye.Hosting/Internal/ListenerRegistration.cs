using Sockeye.Udp;

namespace Sockeye.Hosting.Internal;

/// <summary>A listener added in code: its name, a label for its protocol, how to make its handler once
/// the service provider exists (a connection handler for TCP; for UDP a datagram handler, with the
/// object to dispose when the listener stops if the listener created it), and the options the code sets.</summary>
internal sealed record ListenerRegistration(
    string Name,
    string Protocol,
    Func<IServiceProvider, Func<Connection, Task>>? Handler,
    Func<IServiceProvider, (Func<Datagram, ValueTask> Handle, object? Owned)>? DatagramHandler,
    Action<SockeyeListenerOptions>? Configure)
{
    /// <summary>Whether the listener receives UDP datagrams rather than TCP connections.</summary>
    public bool IsUdp => DatagramHandler is not null;
}
