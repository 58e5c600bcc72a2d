namespace Sockeye.Hosting.Internal;

/// <summary>A listener added in code: its name, a label for its protocol, how to make its handler once
/// the service provider exists, and the options the code sets.</summary>
internal sealed record ListenerRegistration(
    string Name,
    string Protocol,
    Func<IServiceProvider, Func<Connection, Task>> Handler,
    Action<SockeyeListenerOptions>? Configure);
