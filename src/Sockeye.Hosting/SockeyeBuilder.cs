using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;
using Sockeye.Handlers;
using Sockeye.Hosting.Internal;
using Sockeye.Udp;

namespace Sockeye.Hosting;

/// <summary>
/// Declares the listeners the host runs and the protocols configuration may name; returned by
/// <see cref="SockeyeServiceCollectionExtensions.AddSockeye(IServiceCollection, Action{SockeyeBuilder}?)"/>.
/// </summary>
/// <remarks>
/// A listener gets its options in three layers: the library's defaults, then the <c>configure</c>
/// delegate given in code, then the configuration section <c>Sockeye:Listeners:NAME</c> (so operators
/// can change what the code chose, through <c>appsettings.json</c>, environment variables or the
/// command line). A listener that only the configuration describes serves the built-in protocol its
/// <c>Protocol</c> key names.
/// </remarks>
public sealed class SockeyeBuilder
{
    private readonly List<ListenerRegistration> _listeners = [];
    private readonly Dictionary<string, Func<IServiceProvider, IConnectionHandler>> _protocols = new(StringComparer.OrdinalIgnoreCase)
    {
        ["echo"] = static _ => EchoHandler.Instance,
    };

    private readonly Dictionary<string, Func<IServiceProvider, IDatagramHandler>> _udpProtocols = new(StringComparer.OrdinalIgnoreCase)
    {
        ["udp-echo"] = static _ => DatagramEchoHandler.Instance,
    };

    internal SockeyeBuilder(IServiceCollection services) => Services = services;

    /// <summary>The application's services, for chaining registrations.</summary>
    public IServiceCollection Services { get; }

    /// <summary>The configuration section listeners are read from; <see langword="null"/> reads none.</summary>
    /// <remarks>Default: <c>Sockeye</c>, so a listener called <c>echo</c> reads <c>Sockeye:Listeners:echo</c>.</remarks>
    public string? ConfigurationSection { get; set; } = "Sockeye";

    /// <summary>How long connections get to finish when the host stops, before they are aborted.</summary>
    /// <remarks>Default: 30 seconds, the host's default shutdown timeout. The drain also ends when the
    /// host's shutdown timeout (<c>HostOptions.ShutdownTimeout</c>) does, whichever comes first, so raise
    /// both for protocols with long requests. Shorter stops the host sooner and cuts more requests off.
    /// The configuration key <c>Sockeye:DrainTimeout</c> (<c>30s</c>, <c>00:00:30</c>), when present,
    /// overrides this value.</remarks>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The protocol names configuration may use in <c>Protocol</c>: <c>echo</c>, <c>udp-echo</c>
    /// and those added with <see cref="AddProtocol(string, Func{IServiceProvider, IConnectionHandler})"/> and
    /// <see cref="AddUdpProtocol(string, Func{IServiceProvider, IDatagramHandler})"/>; TCP protocols first.</summary>
    public IReadOnlyCollection<string> Protocols => [.. _protocols.Keys, .. _udpProtocols.Keys];

    internal IReadOnlyList<ListenerRegistration> Listeners => _listeners;

    /// <summary>Adds a listener whose connections run <paramref name="handler"/>, one task each.</summary>
    /// <param name="name">The listener's name; its configuration is <c>Sockeye:Listeners:NAME</c>.</param>
    /// <param name="handler">Serves one connection; see <see cref="IConnectionHandler"/>.</param>
    /// <param name="configure">Sets the listener's options in code; configuration values override them.</param>
    /// <returns>This builder.</returns>
    public SockeyeBuilder AddListener(string name, Func<Connection, Task> handler, Action<SockeyeListenerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(name, "delegate", _ => handler, null, configure);
    }

    /// <summary>Adds a listener whose connections all run one <paramref name="handler"/> instance.</summary>
    /// <param name="name">The listener's name; its configuration is <c>Sockeye:Listeners:NAME</c>.</param>
    /// <param name="handler">Serves every connection; must be safe for concurrent use.</param>
    /// <param name="configure">Sets the listener's options in code; configuration values override them.</param>
    /// <returns>This builder.</returns>
    public SockeyeBuilder AddListener(string name, IConnectionHandler handler, Action<SockeyeListenerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(name, handler.GetType().Name, _ => handler.HandleAsync, null, configure);
    }

    /// <summary>Adds a listener whose every connection gets its own service scope and its own
    /// <typeparamref name="THandler"/> from it, so the handler can take scoped services (a database
    /// context, a session) in its constructor; the scope is disposed when the connection ends.</summary>
    /// <typeparam name="THandler">The handler; taken from the scope if registered, otherwise created
    /// with its constructor's dependencies from the scope (and disposed with the connection).</typeparam>
    /// <param name="name">The listener's name; its configuration is <c>Sockeye:Listeners:NAME</c>.</param>
    /// <param name="configure">Sets the listener's options in code; configuration values override them.</param>
    /// <returns>This builder.</returns>
    public SockeyeBuilder AddListener<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(string name, Action<SockeyeListenerOptions>? configure = null)
        where THandler : class, IConnectionHandler =>
        Add(name, typeof(THandler).Name, ScopedHandler.Create<THandler>, null, configure);

    /// <summary>Adds a UDP listener whose every datagram runs <paramref name="handler"/>.</summary>
    /// <param name="name">The listener's name; its configuration is <c>Sockeye:Listeners:NAME</c>, where
    /// <see cref="UdpServerOptions"/>' options sit beside <c>Host</c> and <c>Port</c>.</param>
    /// <param name="handler">Serves one datagram; see <see cref="IDatagramHandler"/>.</param>
    /// <param name="configure">Sets the listener's options in code (<see cref="SockeyeListenerOptions.Udp"/>
    /// for the server's); configuration values override them.</param>
    /// <returns>This builder.</returns>
    public SockeyeBuilder AddUdpListener(string name, Func<Datagram, ValueTask> handler, Action<SockeyeListenerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(name, "delegate", null, _ => (handler, null), configure);
    }

    /// <summary>Adds a UDP listener whose datagrams all run one <paramref name="handler"/> instance.</summary>
    /// <param name="name">The listener's name; its configuration is <c>Sockeye:Listeners:NAME</c>.</param>
    /// <param name="handler">Serves every datagram; must be safe for concurrent use.</param>
    /// <param name="configure">Sets the listener's options in code; configuration values override them.</param>
    /// <returns>This builder.</returns>
    public SockeyeBuilder AddUdpListener(string name, IDatagramHandler handler, Action<SockeyeListenerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(name, handler.GetType().Name, null, _ => (handler.HandleAsync, null), configure);
    }

    /// <summary>Adds a UDP listener served by one <typeparamref name="THandler"/> taken from the services
    /// when the listener starts. Unlike <see cref="AddListener{THandler}(string, Action{SockeyeListenerOptions}?)"/>
    /// there is no scope per datagram: one instance serves every datagram (as <see cref="IDatagramHandler"/>
    /// requires), so that the receive path allocates nothing per datagram.</summary>
    /// <typeparam name="THandler">The handler; taken from the root services if registered, otherwise created
    /// with its constructor's (singleton) dependencies, and then disposed when the listener stops.</typeparam>
    /// <param name="name">The listener's name; its configuration is <c>Sockeye:Listeners:NAME</c>.</param>
    /// <param name="configure">Sets the listener's options in code; configuration values override them.</param>
    /// <returns>This builder.</returns>
    public SockeyeBuilder AddUdpListener<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(string name, Action<SockeyeListenerOptions>? configure = null)
        where THandler : class, IDatagramHandler =>
        Add(name, typeof(THandler).Name, null, SharedHandler.Create<THandler>, configure);

    /// <summary>Adds a protocol that configuration can name in <c>Sockeye:Listeners:NAME:Protocol</c>.</summary>
    /// <param name="name">The protocol's name, compared without case.</param>
    /// <param name="factory">Makes the handler when a listener using the protocol starts.</param>
    /// <returns>This builder.</returns>
    public SockeyeBuilder AddProtocol(string name, Func<IServiceProvider, IConnectionHandler> factory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(factory);
        _udpProtocols.Remove(name); // one name, one transport
        _protocols[name] = factory;
        return this;
    }

    /// <summary>Adds a UDP protocol that configuration can name in <c>Sockeye:Listeners:NAME:Protocol</c>;
    /// a listener naming it receives datagrams and binds <see cref="UdpServerOptions"/>.</summary>
    /// <param name="name">The protocol's name, compared without case.</param>
    /// <param name="factory">Makes the handler when a listener using the protocol starts.</param>
    /// <returns>This builder.</returns>
    public SockeyeBuilder AddUdpProtocol(string name, Func<IServiceProvider, IDatagramHandler> factory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(factory);
        _protocols.Remove(name); // one name, one transport
        _udpProtocols[name] = factory;
        return this;
    }

    internal Func<IServiceProvider, IConnectionHandler>? FindProtocol(string name) =>
        _protocols.TryGetValue(name, out var factory) ? factory : null;

    internal Func<IServiceProvider, IDatagramHandler>? FindUdpProtocol(string name) =>
        _udpProtocols.TryGetValue(name, out var factory) ? factory : null;

    private SockeyeBuilder Add(string name, string protocol, Func<IServiceProvider, Func<Connection, Task>>? handler,
        Func<IServiceProvider, (Func<Datagram, ValueTask> Handle, object? Owned)>? datagramHandler, Action<SockeyeListenerOptions>? configure)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (_listeners.Any(l => string.Equals(l.Name, name, StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArgumentException($"a Sockeye listener called '{name}' was already added", nameof(name));
        }

        _listeners.Add(new ListenerRegistration(name, protocol, handler, datagramHandler, configure));
        return this;
    }
}
